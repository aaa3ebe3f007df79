"""Plant randomly initialised *real* architectures in the exact on-disk layouts the adapters load.

No weights can be downloaded here, so tests (and end-to-end runs of submissions that use DreamSim /
OpenCLIP / timm) plant random-init weights instead. Each builder writes into ``weights_dir`` (the
``Settings.weights_dir`` the run will use) exactly where :mod:`bench.images.weights` looks, and
returns the path it wrote. They are deterministic for a given ``seed`` and leave the global torch RNG
and torch.hub's directory as they found them.

    from tests.images.fake_weights import plant_dreamsim, plant_open_clip, plant_timm
    plant_dreamsim(tmp / "weights", "open_clip_vitb32")            # -> <weights>/dreamsim
    plant_open_clip(tmp / "weights", "ViT-B-32", "openai")         # -> .../open_clip_model.safetensors
    plant_timm(tmp / "weights", "resnet18")                        # -> .../timm/resnet18.a1_in1k/model.safetensors

Sizes (float32): ViT-B-32 CLIP ~600 MB, ViT-S-32 ~250 MB, a dreamsim ViT-B backbone ~350 MB (the
ensemble ~1 GB); pass ``dtype=torch.float16`` to halve them (the loaders cast to float32).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

DINO_HUBCONF = '''"""Test stand-in for the torch-hub repo facebookresearch/dino (planted by tests/images/fake_weights.py).

Same entry point and checkpoint location as the real hubconf: dreamsim's vendored copy of DINO's
VisionTransformer, weights read with torch.hub.load_state_dict_from_url (from <hub_dir>/checkpoints/).
"""
dependencies = ["torch"]

import torch
from dreamsim.feature_extraction.vision_transformer import vit_base


def dino_vitb16(pretrained=True, **kwargs):
    model = vit_base(patch_size=16, num_classes=0, **kwargs)
    if pretrained:
        state_dict = torch.hub.load_state_dict_from_url(
            url="https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
            map_location="cpu")
        model.load_state_dict(state_dict, strict=True)
    return model
'''

DINOV2_HUBCONF = '''"""Test stand-in for the torch-hub repo facebookresearch/dinov2 (planted by tests/images/fake_weights.py).

Same entry point and checkpoint location as the real hubconf; the architecture is dreamsim's vendored
DINO ViT-B with patch 14 (close to, not identical with, DINOv2's).
"""
dependencies = ["torch"]

import torch
from dreamsim.feature_extraction.vision_transformer import vit_base


def dinov2_vitb14(pretrained=True, **kwargs):
    model = vit_base(patch_size=14, num_classes=0, **kwargs)
    if pretrained:
        state_dict = torch.hub.load_state_dict_from_url(
            url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth",
            map_location="cpu")
        model.load_state_dict(state_dict, strict=True)
    return model
'''


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _cast(state: dict, dtype: torch.dtype) -> dict:
    return {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}


# ------------------------------------------------------------------------------------- open_clip
def plant_open_clip(weights_dir: Path, name: str = "ViT-B-32", tag: str = "openai", *, seed: int = 0,
                    layout: str = "file", dtype: torch.dtype = torch.float32) -> Path:
    """Random-init open_clip ``name`` saved for tag ``tag``.

    layout="file":      ``<weights_dir>/open_clip/<name>/<tag>/open_clip_model.safetensors``; returns it.
    layout="local-dir": the same folder plus ``open_clip_config.json`` (open_clip's local-dir: form);
                        returns the folder.
    """
    import open_clip
    from safetensors.torch import save_file

    folder = Path(weights_dir) / "open_clip" / name / tag
    folder.mkdir(parents=True, exist_ok=True)
    with _seeded(seed):
        model = open_clip.create_model(name, pretrained=None)
    path = folder / "open_clip_model.safetensors"
    save_file(_cast(model.state_dict(), dtype), str(path))
    if layout == "local-dir":
        tag_cfg = open_clip.get_pretrained_cfg(name, tag) or {}
        model_cfg = open_clip.get_model_config(name)
        if tag_cfg.get("quick_gelu"):
            model_cfg["quick_gelu"] = True
        pre = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}
        (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": pre},
                                                                 indent=2))
        return folder
    if layout != "file":
        raise ValueError(f"layout must be 'file' or 'local-dir', not {layout!r}")
    return path


# ------------------------------------------------------------------------------------------ timm
def plant_timm(weights_dir: Path, name: str = "resnet18", *, seed: int = 0, fmt: str = "safetensors",
               dtype: torch.dtype = torch.float32) -> Path:
    """Random-init timm ``name`` (with its classifier, as published) at
    ``<weights_dir>/timm/<architecture>.<tag>/model.safetensors`` (fmt="bin": ``pytorch_model.bin``)."""
    import timm
    from safetensors.torch import save_file
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    arch = name.split(".", 1)[0]
    full = f"{arch}.{cfg.tag}" if cfg is not None and cfg.tag else name
    folder = Path(weights_dir) / "timm" / full
    folder.mkdir(parents=True, exist_ok=True)
    with _seeded(seed):
        model = timm.create_model(full, pretrained=False)
    state = _cast(model.state_dict(), dtype)
    if fmt == "safetensors":
        path = folder / "model.safetensors"
        save_file(state, str(path))
    elif fmt == "bin":
        path = folder / "pytorch_model.bin"
        torch.save(state, path)
    else:
        raise ValueError(f"fmt must be 'safetensors' or 'bin', not {fmt!r}")
    return path


# -------------------------------------------------------------------------------------- dreamsim
def _vit_state(patch: int, *, pos_drop_ln: bool = False) -> dict:
    from dreamsim.feature_extraction.vision_transformer import vit_base

    vit = vit_base(patch_size=patch, num_classes=0)
    if pos_drop_ln:  # dreamsim's CLIP-as-DINO conversion replaces pos_drop by a LayerNorm (ln_pre)
        vit.pos_drop = torch.nn.LayerNorm(vit.embed_dim)
    return vit.state_dict()


def _plant_backbone(folder: Path, backbone: str, dtype: torch.dtype) -> None:
    """Write one dreamsim backbone file (and, for DINO types, the torch-hub repo + checkpoint)."""
    if backbone in ("clip_vitb16", "clip_vitb32", "open_clip_vitb16", "open_clip_vitb32"):
        patch = int(backbone[-2:])
        state = _cast(_vit_state(patch, pos_drop_ln=True), dtype)
        state["proj"] = (torch.randn(768, 512) * 768 ** -0.5).float()  # used as a raw matmul: float32
        torch.save({"state_dict": state}, folder / f"{backbone}_pretrain.pth.tar")
    elif backbone == "synclr_vitb16":
        state = _cast(_vit_state(16), dtype)
        torch.save({"model": {f"module.visual.{k}": v for k, v in state.items()}}, folder / "synclr_vit_b_16.pth")
    elif backbone == "dino_vitb16":
        from dreamsim.feature_extraction.vision_transformer import DINOHead

        head = DINOHead(768, 2048)
        student = {f"module.head.mlp.{i}.{p}": getattr(head.mlp[i], p).detach().clone()
                   for i in (0, 2, 4) for p in ("weight", "bias")}
        student["module.head.last_layer.weight"] = torch.randn(2048, 256) * 0.02
        torch.save({"student": student}, folder / "dino_vitb16_pretrain.pth")
        (folder / "facebookresearch_dino_main").mkdir(exist_ok=True)
        (folder / "facebookresearch_dino_main" / "hubconf.py").write_text(DINO_HUBCONF)
        (folder / "checkpoints").mkdir(exist_ok=True)
        torch.save(_cast(_vit_state(16), dtype), folder / "checkpoints" / "dino_vitbase16_pretrain.pth")
    elif backbone == "dinov2_vitb14":
        state = _cast(_vit_state(14), dtype)
        torch.save(state, folder / "dinov2_vitb14_pretrain.pth")
        (folder / "facebookresearch_dinov2_main").mkdir(exist_ok=True)
        (folder / "facebookresearch_dinov2_main" / "hubconf.py").write_text(DINOV2_HUBCONF)
        (folder / "checkpoints").mkdir(exist_ok=True)
        torch.save(state, folder / "checkpoints" / "dinov2_vitb14_pretrain.pth")
    else:
        raise ValueError(f"unknown dreamsim backbone {backbone!r}")


def plant_dreamsim(weights_dir: Path, dreamsim_type: str = "open_clip_vitb32", *, seed: int = 0,
                   lora: bool = True, lora_b_std: float = 0.5, dtype: torch.dtype = torch.float32) -> Path:
    """Random-init dreamsim ``dreamsim_type`` in dreamsim's cache_dir layout at ``<weights_dir>/dreamsim``.

    Writes the backbone file(s) in dreamsim's formats (CLIP/OpenCLIP as ``{"state_dict": ..., proj}``,
    SynCLR as ``{"model": {"module.visual.*"}}``, DINO head as ``{"student": ...}``), for the DINO types
    a stand-in torch-hub repo + hub checkpoint, and (``lora=True``) a peft LoRA folder made with
    dreamsim's training values (r=16, alpha=0.5, dropout=0.3, target "qkv") whose B matrices are
    random (std ``lora_b_std``) so the aligned model differs from the un-aligned one. Returns the folder.
    """
    from bench.images.dreamsim_model import _BACKBONES, offline_torch_hub
    from bench.images.weights import DREAMSIM_ZIP_FILES

    folder = Path(weights_dir) / "dreamsim"
    folder.mkdir(parents=True, exist_ok=True)
    with _seeded(seed):
        for backbone in _BACKBONES[dreamsim_type]:
            _plant_backbone(folder, backbone, dtype)
        if lora:
            from dreamsim.config import dreamsim_args
            from dreamsim.model import PerceptualModel
            from peft import LoraConfig, get_peft_model

            lora_name = next(e for e in DREAMSIM_ZIP_FILES[dreamsim_type] if e.endswith("_lora"))
            with offline_torch_hub(f"dreamsim:{dreamsim_type}", "(test planting)"):
                base = PerceptualModel(**dreamsim_args["model_config"][dreamsim_type], device="cpu",
                                       load_dir=str(folder), normalize_embeds=True)
            config = LoraConfig(r=16, lora_alpha=0.5, lora_dropout=0.3, bias="none", target_modules=["qkv"])
            model = get_peft_model(base, config)
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if "lora_B" in name:
                        param.normal_(0.0, lora_b_std)
            model.save_pretrained(str(folder / lora_name))
    return folder
