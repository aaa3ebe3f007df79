"""timm image backbones: pooled features (``num_classes=0``), timm's own eval transform.

Parameters:
    model:     a timm name, with or without the weights tag (``"resnet50"`` resolves to timm's default
               tag, ``"resnet50.a1_in1k"``); ``model_id`` is ``timm:<architecture>.<tag>``.
    weights:   optional explicit weights file (safetensors or a state dict) or a folder holding
               ``model.safetensors`` / ``pytorch_model.bin``; default
               ``<weights_dir>/timm/<architecture>.<tag>/``.
    normalize: L2-normalise the pooled features (default False).
    device:    torch device (default: the settings' device).

The eval transform is timm's ``create_transform(**resolve_data_config(pretrained_cfg), is_training=False)``:
resize to ``input_size / crop_pct`` then centre crop ``input_size``, then mean/std normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.images import IMAGE_MODELS
from bench.images.base import TorchImageModel, check_deterministic_transform
from bench.images.weights import (TIMM_FILES, explicit_path, family_dir, how_to_timm, locate_first,
                                  weights_sha256)


@IMAGE_MODELS.register("timm")
class TimmModel(TorchImageModel):
    """A timm backbone with the classifier removed; embeddings are its pooled features."""

    name = "timm"

    def __init__(self, settings, model: str = "resnet50", weights: str | None = None,
                 normalize: bool = False, device: str | None = None) -> None:
        super().__init__(settings)
        self.model = model
        self.weights = weights
        self.normalize = normalize
        self.device = device

    def check_params(self) -> None:
        import timm

        arch = self.model.split(".", 1)[0]
        if not timm.is_model(arch):
            raise self._bad_param("model", f"unknown timm architecture '{arch}'",
                                  "use a name from timm.list_models(), e.g. resnet50 or vit_base_patch16_224")

    def _pretrained_cfg(self) -> dict[str, Any]:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(self.model)
        return cfg.to_dict() if cfg is not None else {}

    @property
    def full_name(self) -> str:
        """``<architecture>.<tag>`` (timm's default tag filled in)."""
        cfg = self._pretrained_cfg()
        arch = self.model.split(".", 1)[0]
        tag = cfg.get("tag") or (self.model.split(".", 1)[1] if "." in self.model else "")
        return f"{arch}.{tag}" if tag else arch

    @property
    def model_id(self) -> str:
        return f"timm:{self.full_name}"

    def normalisation(self) -> str:
        return "l2" if self.normalize else "none"

    def _default_dirs(self) -> list[Path]:
        base = family_dir(self.settings, "timm")
        dirs = [base / self.full_name]
        if self.model != self.full_name:
            dirs.append(base / self.model)
        return dirs

    def _weights_path(self) -> Path:
        what = f"timm {self.full_name}"
        how = how_to_timm(self.full_name, self._default_dirs()[0], self._pretrained_cfg().get("hf_hub_id"))
        if self.weights:
            path = explicit_path(self.weights, what, how)
            if path.is_dir():
                return locate_first(what, [path / f for f in TIMM_FILES], how, path)
            return path
        candidates = [d / f for d in self._default_dirs() for f in TIMM_FILES]
        return locate_first(what, candidates, how, self._default_dirs()[0])

    def weight_files(self) -> list[Path]:
        return [self._weights_path()]

    def weights_checksum(self) -> str:
        return weights_sha256(self.weight_files(), self.settings)

    def _data_config(self) -> dict[str, Any]:
        from timm.data import resolve_data_config

        cfg = resolve_data_config(args={}, pretrained_cfg=self._pretrained_cfg())
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}

    def preprocessing(self) -> dict[str, Any]:
        cfg = self._data_config()
        return {"library": "timm", "size": cfg["input_size"][1:], "interpolation": cfg["interpolation"],
                "resize": f"shortest side to size / crop_pct (crop_pct={cfg['crop_pct']})",
                "crop": cfg.get("crop_mode", "center"), "crop_pct": cfg["crop_pct"],
                "mean": cfg["mean"], "std": cfg["std"]}

    @property
    def dim(self) -> int:
        self.load()
        return int(self._net.num_features)

    def _load(self) -> None:
        import timm
        from timm.data import create_transform

        path = self._weights_path()
        net = timm.create_model(self.full_name, pretrained=True, num_classes=0,
                                pretrained_cfg_overlay=dict(file=str(path)))
        self._net = net.to(self.torch_device()).eval().requires_grad_(False)
        cfg = self._data_config()
        self._transform = create_transform(input_size=tuple(cfg["input_size"]), interpolation=cfg["interpolation"],
                                           mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                                           crop_pct=cfg["crop_pct"], crop_mode=cfg.get("crop_mode", "center"),
                                           is_training=False)
        check_deterministic_transform(self._transform, self.model_id)

    def _forward(self, batch):
        import torch.nn.functional as F

        out = self._net(batch)
        return F.normalize(out, dim=-1) if self.normalize else out
