"""OpenCLIP image towers (``encode_image``), from local weights only.

Parameters:
    model:      an open_clip architecture name (``open_clip.list_models()``), e.g. ``"ViT-B-32"``.
    pretrained: the weights tag, e.g. ``"openai"``, ``"laion2b_s34b_b79k"``. It names the weights
                (part of ``model_id``) and, when open_clip knows the tag, sets the preprocessing
                (mean/std/interpolation/resize mode) and QuickGELU exactly as open_clip would.
    weights:    optional explicit location instead of ``<weights_dir>/open_clip/<model>/<pretrained>/``:
                a weights file (safetensors, plain state dict or ``{"state_dict": ...}``), or a folder
                / ``local-dir:/folder`` holding ``open_clip_config.json`` + ``open_clip_model.safetensors``.
    normalize:  L2-normalise the output vectors (default False: raw ``encode_image`` output).
    device:     torch device (default: the settings' device).

``model_id`` is ``open_clip:<model>:<pretrained>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.images import IMAGE_MODELS
from bench.images.base import TorchImageModel, check_deterministic_transform
from bench.images.weights import (OPEN_CLIP_FILES, explicit_path, family_dir, how_to_open_clip,
                                  locate_first, missing_weights, weights_sha256)

#: open_clip's own preference order inside a local-dir folder (factory._find_checkpoint_in_dir)
_LOCAL_DIR_PREFERENCE = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                         "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
                         "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth")


@IMAGE_MODELS.register("open_clip", aliases=("openclip",))
class OpenClipModel(TorchImageModel):
    """An OpenCLIP image encoder; embeddings are ``model.encode_image(x)``."""

    name = "open_clip"

    def __init__(self, settings, model: str = "ViT-B-32", pretrained: str = "openai",
                 weights: str | None = None, normalize: bool = False, device: str | None = None) -> None:
        super().__init__(settings)
        self.model = model
        self.pretrained = pretrained
        self.weights = weights
        self.normalize = normalize
        self.device = device

    # ------------------------------------------------------------------------------ identity
    def check_params(self) -> None:
        import open_clip

        if self.model not in open_clip.list_models():
            raise self._bad_param("model", f"unknown open_clip architecture '{self.model}'",
                                  "use a name from open_clip.list_models(), e.g. ViT-B-32")

    @property
    def model_id(self) -> str:
        return f"open_clip:{self.model}:{self.pretrained}"

    def normalisation(self) -> str:
        return "l2" if self.normalize else "none"

    def _default_dir(self) -> Path:
        return family_dir(self.settings, "open_clip") / self.model / self.pretrained

    def _how_to(self) -> str:
        return how_to_open_clip(self.model, self.pretrained, self._default_dir())

    def _source(self) -> tuple[str, Path]:
        """('local-dir', folder) or ('file', weights file); WeightsMissingError when absent."""
        what = f"open_clip {self.model} (pretrained '{self.pretrained}')"
        if self.weights:
            value = str(self.weights)
            if value.startswith("local-dir:"):
                folder = explicit_path(value[len("local-dir:"):], what, self._how_to())
                return "local-dir", self._check_local_dir(folder, what)
            path = explicit_path(value, what, self._how_to())
            if path.is_dir():
                if (path / "open_clip_config.json").is_file():
                    return "local-dir", self._check_local_dir(path, what)
                return "file", locate_first(what, [path / f for f in OPEN_CLIP_FILES], self._how_to(), path)
            return "file", path
        folder = self._default_dir()
        if (folder / "open_clip_config.json").is_file():
            return "local-dir", self._check_local_dir(folder, what)
        return "file", locate_first(what, [folder / f for f in OPEN_CLIP_FILES], self._how_to(), folder)

    def _check_local_dir(self, folder: Path, what: str) -> Path:
        if not (folder / "open_clip_config.json").is_file() or self._local_dir_checkpoint(folder) is None:
            needed = [n for n in ("open_clip_config.json",) if not (folder / n).is_file()]
            if self._local_dir_checkpoint(folder) is None:
                needed.append(OPEN_CLIP_FILES[0])
            raise missing_weights(what, needed, [folder / n for n in needed], self._how_to(), folder)
        return folder

    @staticmethod
    def _local_dir_checkpoint(folder: Path) -> Path | None:
        for name in _LOCAL_DIR_PREFERENCE:
            if (folder / name).is_file():
                return folder / name
        found = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) + sorted(folder.glob("*.pth"))
        return found[0] if found else None

    def weight_files(self) -> list[Path]:
        kind, path = self._source()
        if kind == "local-dir":
            return [path / "open_clip_config.json", self._local_dir_checkpoint(path)]  # type: ignore[list-item]
        return [path]

    def weights_checksum(self) -> str:
        kind, path = self._source()
        files = self.weight_files()
        return weights_sha256(files, self.settings, root=path if kind == "local-dir" else None)

    def _preprocess_cfg(self) -> dict[str, Any]:
        """open_clip's PreprocessCfg as open_clip itself would resolve it for these weights."""
        from dataclasses import asdict

        import open_clip
        from open_clip.transform import PreprocessCfg, merge_preprocess_dict

        from bench.errors import WeightsMissingError

        cfg = asdict(PreprocessCfg())
        try:
            kind, path = self._source()
        except WeightsMissingError:  # describe what the named tag would use
            kind, path = "file", None
        if kind == "local-dir":
            local = json.loads((path / "open_clip_config.json").read_text())
            cfg = merge_preprocess_dict(cfg, local.get("preprocess_cfg", {}))
            size = local["model_cfg"]["vision_cfg"].get("image_size", cfg["size"])
        else:
            cfg = merge_preprocess_dict(cfg, open_clip.get_pretrained_cfg(self.model, self.pretrained) or {})
            size = open_clip.get_model_config(self.model)["vision_cfg"].get("image_size", cfg["size"])
        cfg["size"] = size
        return cfg

    def preprocessing(self) -> dict[str, Any]:
        cfg = self._preprocess_cfg()
        crop = {"shortest": "resize shortest side to size, centre crop",
                "longest": "resize longest side to size, centre pad",
                "squash": "resize to size x size (aspect not kept)"}.get(cfg["resize_mode"], cfg["resize_mode"])
        return {"library": "open_clip", "size": _jsonable(cfg["size"]), "resize": cfg["resize_mode"],
                "interpolation": cfg["interpolation"], "crop": crop, "mean": list(cfg["mean"]),
                "std": list(cfg["std"]), "fill_color": cfg["fill_color"]}

    @property
    def dim(self) -> int:
        import open_clip

        from bench.errors import WeightsMissingError

        try:
            kind, path = self._source()
        except WeightsMissingError:
            kind, path = "file", None
        if kind == "local-dir":
            return int(json.loads((path / "open_clip_config.json").read_text())["model_cfg"]["embed_dim"])
        return int(open_clip.get_model_config(self.model)["embed_dim"])

    # ------------------------------------------------------------------------------ work
    def _load(self) -> None:
        import open_clip
        from open_clip.transform import PreprocessCfg, image_transform_v2

        kind, path = self._source()
        device = self.torch_device()
        pp = self._preprocess_cfg()
        if kind == "local-dir":
            net = open_clip.create_model(f"local-dir:{path}", device=device)
        else:
            tag_cfg = open_clip.get_pretrained_cfg(self.model, self.pretrained) or {}
            net = open_clip.create_model(self.model, pretrained=str(path), device=device,
                                         force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                                         force_preprocess_cfg=pp)
        self._net = net.eval().requires_grad_(False)
        self._transform = image_transform_v2(PreprocessCfg(**pp), is_train=False)
        check_deterministic_transform(self._transform, self.model_id)

    def _forward(self, batch):
        return self._net.encode_image(batch, normalize=self.normalize)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
