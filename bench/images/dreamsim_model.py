"""DreamSim embeddings (Fu et al. 2023), human-aligned ViT features, from local weights only.

Parameters:
    dreamsim_type: ``ensemble`` (DINO + CLIP + OpenCLIP ViT-B/16, 1792-d, the default and AlignVis'
                   choice), ``dino_vitb16`` (768), ``dinov2_vitb14`` (768), ``synclr_vitb16`` (768),
                   ``clip_vitb32`` (512) or ``open_clip_vitb32`` (512).
    aligned:       True (default): the DreamSim model (backbone(s) + the human-aligned LoRA).
                   False: the same backbone(s) *without* the LoRA — the un-aligned embedding that
                   AlignVis' tables call "base". Needs only the backbone files.
    normalize:     dreamsim's ``normalize_embeds`` (default True, as in dreamsim): each vector is
                   centred (its own mean subtracted) and L2-normalised.
    weights:       optional folder in dreamsim's ``cache_dir`` layout; default ``<weights_dir>/dreamsim``.
    device:        torch device (default: the settings' device).

Preprocessing is dreamsim's: resize to 224 x 224 (bicubic, aspect not kept), values in [0, 1]; each
backbone then applies its own mean/std inside the model. ``model_id`` is ``dreamsim:<type>`` or
``dreamsim:<type>:unaligned``.

dreamsim 0.2.1 would download its checkpoint zip whenever a file is missing, and its DINO types call
``torch.hub.load``. Here every required file is checked first (a WeightsMissingError lists the missing
ones and the command that fetches them), and while the model is built torch.hub's network functions
are replaced by ones that raise, so nothing is ever fetched; ``torch.hub``'s directory (which dreamsim
sets to its cache_dir) is restored afterwards.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any, Iterator

from bench.images import IMAGE_MODELS
from bench.images.base import TorchImageModel
from bench.images.weights import (DREAMSIM_HUB_FILES, DREAMSIM_ZIP_FILES, LORA_WEIGHT_FILES, explicit_path,
                                  family_dir, how_to_dreamsim, locate_all, missing_weights, weights_sha256)

DREAMSIM_TYPES = tuple(DREAMSIM_ZIP_FILES)
DREAMSIM_DIMS = {"ensemble": 1792, "dino_vitb16": 768, "dinov2_vitb14": 768, "synclr_vitb16": 768,
                 "clip_vitb32": 512, "open_clip_vitb32": 512}
_IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
_OPENAI = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
_BACKBONES = {"ensemble": ("dino_vitb16", "clip_vitb16", "open_clip_vitb16"),
              "dino_vitb16": ("dino_vitb16",), "dinov2_vitb14": ("dinov2_vitb14",),
              "synclr_vitb16": ("synclr_vitb16",), "clip_vitb32": ("clip_vitb32",),
              "open_clip_vitb32": ("open_clip_vitb32",)}
IMG_SIZE = 224


@IMAGE_MODELS.register("dreamsim")
class DreamSimModel(TorchImageModel):
    """DreamSim (aligned) or its un-aligned backbone(s); embeddings are ``model.embed(x)``."""

    name = "dreamsim"

    def __init__(self, settings, dreamsim_type: str = "ensemble", aligned: bool = True,
                 normalize: bool = True, weights: str | None = None, device: str | None = None) -> None:
        super().__init__(settings)
        self.dreamsim_type = dreamsim_type
        self.aligned = aligned
        self.normalize = normalize
        self.weights = weights
        self.device = device

    def check_params(self) -> None:
        if self.dreamsim_type not in DREAMSIM_TYPES:
            raise self._bad_param("dreamsim_type", f"unknown dreamsim type '{self.dreamsim_type}'",
                                  f"use one of: {', '.join(DREAMSIM_TYPES)}")
        if not isinstance(self.aligned, bool):
            raise self._bad_param("aligned", f"expected true/false, got {self.aligned!r}", "use aligned=true or aligned=false")

    @property
    def model_id(self) -> str:
        return f"dreamsim:{self.dreamsim_type}" + ("" if self.aligned else ":unaligned")

    def normalisation(self) -> str:
        return "dreamsim-centre-l2" if self.normalize else "none"

    @property
    def dim(self) -> int:
        return DREAMSIM_DIMS[self.dreamsim_type]

    def preprocessing(self) -> dict[str, Any]:
        backbones = _BACKBONES[self.dreamsim_type]
        stats = [_IMAGENET if ("dino" in b or "synclr" in b) else _OPENAI for b in backbones]
        return {"library": "dreamsim", "size": [IMG_SIZE, IMG_SIZE], "resize": "to size x size (aspect not kept)",
                "interpolation": "bicubic", "crop": "none", "backbones": list(backbones),
                "mean": [s[0] for s in stats], "std": [s[1] for s in stats]}

    # ------------------------------------------------------------------------------ weights
    @property
    def cache_dir(self) -> Path:
        """The folder given to dreamsim as ``cache_dir``."""
        if self.weights:
            return explicit_path(self.weights, f"dreamsim {self.dreamsim_type}", self._how_to())
        return family_dir(self.settings, "dreamsim")

    def _how_to(self) -> str:
        dest = Path(self.weights) if self.weights else family_dir(self.settings, "dreamsim")
        return how_to_dreamsim(self.dreamsim_type, dest)

    def required_files(self) -> list[str]:
        """Paths (relative to ``cache_dir``) this model reads; LoRA folders listed as their files."""
        self.check_params()
        names: list[str] = []
        for entry in DREAMSIM_ZIP_FILES[self.dreamsim_type]:
            if entry.endswith("_lora"):
                if self.aligned:
                    names.append(f"{entry}/adapter_config.json")
            else:
                names.append(entry)
        names.extend(DREAMSIM_HUB_FILES.get(self.dreamsim_type, ()))
        return names

    def _lora_dir(self) -> str | None:
        return next((e for e in DREAMSIM_ZIP_FILES[self.dreamsim_type] if e.endswith("_lora")), None) \
            if self.aligned else None

    def weight_files(self) -> list[Path]:
        folder = self.cache_dir
        what = f"dreamsim {self.model_id.split(':', 1)[1]}"
        paths = locate_all(what, folder, self.required_files(), self._how_to())
        lora = self._lora_dir()
        if lora is not None:
            weights = [folder / lora / n for n in LORA_WEIGHT_FILES]
            found = [w for w in weights if w.is_file()]
            if not found:
                raise missing_weights(what, [Path(lora) / LORA_WEIGHT_FILES[0]], weights, self._how_to(), folder)
            paths.append(found[0])
        return paths

    def weights_checksum(self) -> str:
        folder = self.cache_dir
        files = self.weight_files()
        # the torch-hub code folders are hashed whole: they define the DINO architecture
        expanded = [folder / p.relative_to(folder).parts[0] if p.name == "hubconf.py" else p for p in files]
        return weights_sha256(expanded, self.settings, root=folder)

    # ------------------------------------------------------------------------------ work
    def _load(self) -> None:
        from torchvision import transforms

        self.weight_files()  # raises WeightsMissingError before dreamsim could try to download
        folder = str(self.cache_dir)
        device = self.torch_device()
        with offline_torch_hub(self.model_id, self._how_to()), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            # dreamsim wraps its model in peft twice, and its DINO head uses the old weight_norm: both harmless
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated")
            if self.aligned:
                from dreamsim import dreamsim

                net, _ = dreamsim(pretrained=True, device=device, cache_dir=folder,
                                  normalize_embeds=self.normalize, dreamsim_type=self.dreamsim_type)
            else:
                from dreamsim.config import dreamsim_args
                from dreamsim.model import PerceptualModel

                net = PerceptualModel(**dreamsim_args["model_config"][self.dreamsim_type], device=device,
                                      load_dir=folder, normalize_embeds=self.normalize)
        self._net = net.to(device).eval().requires_grad_(False)
        # dreamsim's own preprocess (Resize((224, 224), bicubic) + ToTensor), batched
        self._transform = transforms.Compose([
            transforms.Resize((IMG_SIZE, IMG_SIZE), interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.ToTensor(),
        ])

    def _forward(self, batch):
        out = self._net.embed(batch)
        return out.reshape(batch.shape[0], -1)


@contextlib.contextmanager
def offline_torch_hub(model_id: str, how_to: str) -> Iterator[None]:
    """Make torch.hub unable to reach the network while dreamsim builds; restore its state after."""
    import torch.hub as hub
    from urllib.error import URLError

    saved = {"urlopen": hub.urlopen, "download_url_to_file": hub.download_url_to_file}
    saved_dir = getattr(hub, "_hub_dir", None)

    def no_urlopen(url, *args, **kwargs):
        raise URLError(f"brainvis-bench runs offline; not fetching {getattr(url, 'full_url', url)}")

    def no_download(url, dst, *args, **kwargs):
        dst = Path(dst)
        raise missing_weights(f"{model_id} (torch.hub wanted to download {url})", [dst.name], [dst], how_to,
                              dst.parent)

    hub.urlopen = no_urlopen
    hub.download_url_to_file = no_download
    try:
        yield
    finally:
        hub.urlopen = saved["urlopen"]
        hub.download_url_to_file = saved["download_url_to_file"]
        hub._hub_dir = saved_dir
