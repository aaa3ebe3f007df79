"""Where image-model weights live, and an error that says exactly what is missing and how to get it.

Nothing is ever downloaded: every model reads local files under ``Settings.weights_dir``
(``BENCH_WEIGHTS_DIR``; default ``~/.cache/brainvis-bench/weights``) or from an explicit path given
as a model parameter. The layout, per family::

    <weights_dir>/
      open_clip/<model>/<tag>/                 e.g. open_clip/ViT-B-32/openai/
          open_clip_model.safetensors          the full CLIP state dict (or open_clip_pytorch_model.bin)
          open_clip_config.json                optional; when present the folder is loaded as
                                               open_clip's ``local-dir:`` (config + preprocess from it)
      timm/<architecture>.<tag>/               e.g. timm/resnet50.a1_in1k/  (the HF repo timm/<name>)
          model.safetensors                    (or pytorch_model.bin)
      dreamsim/                                dreamsim's own ``cache_dir``, exactly as its zips unpack:
          open_clip_vitb32_pretrain.pth.tar    + open_clip_vitb32_single_lora/   (type open_clip_vitb32)
          clip_vitb32_pretrain.pth.tar         + clip_vitb32_single_lora/        (type clip_vitb32)
          synclr_vit_b_16.pth                  + synclr_vitb16_single_lora/      (type synclr_vitb16)
          dino_vitb16_pretrain.pth             + dino_vitb16_single_lora/        (type dino_vitb16)
          dinov2_vitb14_pretrain.pth           + dinov2_vitb14_single_lora/      (type dinov2_vitb14)
          dino_vitb16_pretrain.pth, clip_vitb16_pretrain.pth.tar,
          open_clip_vitb16_pretrain.pth.tar    + ensemble_lora/                  (type ensemble)
          facebookresearch_dino_main/          torch-hub code of DINO   (dino_vitb16, ensemble)
          facebookresearch_dinov2_main/        torch-hub code of DINOv2 (dinov2_vitb14)
          checkpoints/dino_vitbase16_pretrain.pth, checkpoints/dinov2_vitb14_pretrain.pth
                                               the hub backbones those repos load
      (each ``*_lora/`` folder is a peft adapter: adapter_config.json + adapter_model.safetensors/.bin)

The un-aligned dreamsim backbones (``aligned=False``) need only the backbone files (no ``*_lora/``).

On a machine with internet, one command per model fills the layout (the error message prints the
exact one for the model asked for, with the destination filled in); then copy the folder over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from bench.errors import WeightsMissingError
from bench.settings import Settings

# ---------------------------------------------------------------------------------------- dreamsim
#: dreamsim type -> the files its checkpoint zip holds (dreamsim 0.2.1 ``download_weights`` table)
DREAMSIM_ZIP_FILES: dict[str, tuple[str, ...]] = {
    "ensemble": ("dino_vitb16_pretrain.pth", "open_clip_vitb16_pretrain.pth.tar",
                 "clip_vitb16_pretrain.pth.tar", "ensemble_lora"),
    "dino_vitb16": ("dino_vitb16_pretrain.pth", "dino_vitb16_single_lora"),
    "dinov2_vitb14": ("dinov2_vitb14_pretrain.pth", "dinov2_vitb14_single_lora"),
    "open_clip_vitb32": ("open_clip_vitb32_pretrain.pth.tar", "open_clip_vitb32_single_lora"),
    "clip_vitb32": ("clip_vitb32_pretrain.pth.tar", "clip_vitb32_single_lora"),
    "synclr_vitb16": ("synclr_vit_b_16.pth", "synclr_vitb16_single_lora"),
}

#: dreamsim type -> torch-hub files the DINO backbones load from dreamsim's cache_dir
#: (dreamsim calls ``torch.hub.set_dir(cache_dir)`` then ``torch.hub.load('facebookresearch/dino…')``)
DREAMSIM_HUB_FILES: dict[str, tuple[str, ...]] = {
    "ensemble": ("facebookresearch_dino_main/hubconf.py", "checkpoints/dino_vitbase16_pretrain.pth"),
    "dino_vitb16": ("facebookresearch_dino_main/hubconf.py", "checkpoints/dino_vitbase16_pretrain.pth"),
    "dinov2_vitb14": ("facebookresearch_dinov2_main/hubconf.py", "checkpoints/dinov2_vitb14_pretrain.pth"),
}

DREAMSIM_URLS: dict[str, str] = {
    "ensemble": "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.0-checkpoints/dreamsim_ensemble_checkpoint.zip",
    "dino_vitb16": "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.0-checkpoints/dreamsim_dino_vitb16_checkpoint.zip",
    "clip_vitb32": "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.0-checkpoints/dreamsim_clip_vitb32_checkpoint.zip",
    "open_clip_vitb32": "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.0-checkpoints/dreamsim_open_clip_vitb32_checkpoint.zip",
    "dinov2_vitb14": "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.1-checkpoints/dreamsim_dinov2_vitb14_checkpoint.zip",
    "synclr_vitb16": "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.1-checkpoints/dreamsim_synclr_vitb16_checkpoint.zip",
}

OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TIMM_FILES = ("model.safetensors", "pytorch_model.bin")
LORA_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def family_dir(settings: Settings, family: str) -> Path:
    """``<weights_dir>/<family>``: the folder a family's weights go in."""
    return Path(settings.weights_dir) / family


def missing_weights(what: str, missing: Sequence[Path], looked_in: Sequence[Path],
                    how_to_obtain: str, where: Path | None = None) -> WeightsMissingError:
    """Build the error: which file(s), every place looked, and how to obtain them.

    The returned error also carries ``missing`` and ``looked_in`` (lists of paths) as attributes.
    """
    lines = [f"missing weights for {what}."]
    lines.append("  needed: " + ", ".join(str(m) for m in missing))
    lines.append("  looked in:")
    lines.extend(f"    {p}" for p in looked_in)
    err = WeightsMissingError("\n".join(lines), where=where,
                              fix="on a machine with internet:\n" + how_to_obtain.rstrip()
                              + "\n  then copy the result to that place on this machine "
                                "(or point the model's 'weights' parameter at it)")
    err.missing = [Path(m) for m in missing]  # type: ignore[attr-defined]
    err.looked_in = [Path(p) for p in looked_in]  # type: ignore[attr-defined]
    return err


def locate_first(what: str, candidates: Sequence[Path], how_to_obtain: str,
                 where: Path | None = None) -> Path:
    """The first existing path of ``candidates`` (files or folders); WeightsMissingError otherwise."""
    for path in candidates:
        if Path(path).exists():
            return Path(path)
    raise missing_weights(what, [Path(c).name for c in candidates], candidates, how_to_obtain, where)


def locate_all(what: str, folder: Path, names: Iterable[str], how_to_obtain: str) -> list[Path]:
    """``folder/name`` for every name; WeightsMissingError naming each one that is absent."""
    paths = [Path(folder) / n for n in names]
    absent = [p for p in paths if not p.exists()]
    if absent:
        raise missing_weights(what, [p.relative_to(folder) for p in absent], absent, how_to_obtain,
                              where=folder)
    return paths


def explicit_path(value: str | Path, what: str, how_to_obtain: str, param: str = "weights") -> Path:
    """An explicit weights path given as a parameter: must exist (no fallback to other places)."""
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise missing_weights(f"{what} (parameter '{param}')", [path.name], [path], how_to_obtain)
    return path


def files_under(paths: Iterable[Path]) -> list[Path]:
    """Files of ``paths`` with folders expanded to their files (sorted, recursively)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and "__pycache__" not in q.parts))
        else:
            out.append(p)
    return out


def weights_sha256(paths: Sequence[Path], settings: Settings, root: Path | None = None) -> str:
    """Checksum of weight files (folders expanded), memoised in ``settings.cache_dir``.

    One file: its SHA-256. Several: SHA-256 over ``name:sha256`` of each, names relative to ``root``.
    """
    from bench.data.checksum import combine, file_sha256

    files = files_under(paths)
    if len(files) == 1 and not Path(paths[0]).is_dir():
        return file_sha256(files[0], settings.cache_dir)
    parts = []
    for f in files:
        name = str(f.relative_to(root)) if root is not None else f.name
        parts.append(f"{name}:{file_sha256(f, settings.cache_dir)}")
    return combine(parts)


# ---------------------------------------------------------------------------------------- how-tos
def how_to_open_clip(model: str, tag: str, dest: Path) -> str:
    """Exact commands that produce ``dest/open_clip_model.safetensors`` for (model, tag)."""
    hub = ""
    try:
        import open_clip

        cfg = open_clip.get_pretrained_cfg(model, tag) or {}
        hub = (cfg.get("hf_hub") or "").rstrip("/")
    except Exception:  # pragma: no cover - open_clip missing is reported elsewhere
        cfg = {}
    text = (f"  bench weights download open_clip --param model={model} --param pretrained={tag} "
            f"--weights-dir {Path(dest).parents[2]}\n  or: "
            "python -c \"import open_clip, os; from safetensors.torch import save_file; "
            f"m = open_clip.create_model('{model}', pretrained='{tag}'); "
            f"os.makedirs('{dest}', exist_ok=True); "
            f"save_file({{k: v.contiguous() for k, v in m.state_dict().items()}}, "
            f"'{dest}/open_clip_model.safetensors')\"\n")
    if hub and hub.count("/") == 1:
        text += (f"  or: hf download {hub} --local-dir {dest}   (the Hugging Face repo of this tag; "
                 "older huggingface_hub: huggingface-cli download)\n")
    return text


def how_to_timm(name: str, dest: Path, hf_hub_id: str | None = None) -> str:
    """Exact commands that produce ``dest/model.safetensors`` for a timm model."""
    text = (f"  bench weights download timm --param model={name} --weights-dir {Path(dest).parents[1]}\n  or: "
            "python -c \"import timm, os; from safetensors.torch import save_file; "
            f"m = timm.create_model('{name}', pretrained=True); os.makedirs('{dest}', exist_ok=True); "
            f"save_file({{k: v.contiguous() for k, v in m.state_dict().items()}}, "
            f"'{dest}/model.safetensors')\"\n")
    if hf_hub_id:
        text += f"  or: hf download {hf_hub_id} --local-dir {dest}\n"
    return text


def how_to_dreamsim(dreamsim_type: str, dest: Path) -> str:
    """Exact commands that fill ``dest`` (dreamsim's cache_dir) for a dreamsim type."""
    text = (f"  bench weights download dreamsim --param dreamsim_type={dreamsim_type} --param weights={dest}\n  or: "
            "python -c \"from dreamsim import dreamsim; "
            f"dreamsim(pretrained=True, device='cpu', cache_dir='{dest}', dreamsim_type='{dreamsim_type}')\"\n"
            f"  (this downloads {DREAMSIM_URLS[dreamsim_type]} and unzips it into {dest}")
    if dreamsim_type in DREAMSIM_HUB_FILES:
        text += "; it also fetches the torch-hub DINO code and backbone checkpoint into the same folder"
    text += ")\n"
    return text
