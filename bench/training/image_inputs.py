"""How an image model sees an image: resize, crop views, normalisation, and its feature function.

Used to fine-tune an image tower (the 10-crop views of :func:`crop_view`) and for the masked
forward passes of the saliency task (:func:`load_input`, :attr:`InputSpec.fill`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class InputSpec:
    """How a model sees an image: shortest side to ``size / crop_pct``, centre crop ``size``,
    ``(x - mean) / std``. ``mean``/``std`` None: the tensor stays in [0, 1]."""

    size: int
    crop_pct: float = 1.0
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The crop ``(x0, y0, x1, y1)`` in the original image's pixels."""
        side = min(width, height) * min(1.0, self.crop_pct)
        x0, y0 = (width - side) / 2, (height - side) / 2
        return (x0, y0, x0 + side, y0 + side)

    @property
    def fill(self) -> torch.Tensor:
        """The value of a suppressed (zeroed) pixel: 0 of the normalised input (the mean colour)."""
        if self.mean is None:
            return torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        return torch.zeros(3, 1, 1)


def input_spec(image_model: Any) -> InputSpec:
    """The :class:`InputSpec` of a registered image model, from its declared preprocessing."""
    pre = image_model.preprocessing()
    size = pre.get("size", 224)
    size = int(size[0] if isinstance(size, (list, tuple)) else size)
    crop_pct = float(pre.get("crop_pct") or 1.0)
    mean, std = pre.get("mean"), pre.get("std")
    return InputSpec(size, crop_pct, tuple(mean) if mean else None, tuple(std) if std else None)


def load_resized(path: Any, spec: InputSpec) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(uint8 (3, h', w') resized so the shortest side is size / crop_pct, (height, width) of the original)``."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = spec.size / spec.crop_pct / min(w, h)
        nw, nh = max(spec.size, round(w * scale)), max(spec.size, round(h * scale))
        im = im.resize((nw, nh), Image.BICUBIC)
        arr = torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()
    return arr, (h, w)


def crop_view(resized: torch.Tensor, spec: InputSpec, crop: int = 0, flip: bool = False) -> torch.Tensor:
    """A (3, size, size) float model input from :func:`load_resized` output.

    crop: 0 = centre (the eval view), 1-4 = top-left, top-right, bottom-left, bottom-right (with
    ``flip``, the paper's 10-crop augmentation for fine-tuning).
    """
    _, nh, nw = resized.shape
    s = spec.size
    top, left = {0: ((nh - s) // 2, (nw - s) // 2), 1: (0, 0), 2: (0, nw - s), 3: (nh - s, 0),
                 4: (nh - s, nw - s)}[int(crop)]
    arr = resized[:, top:top + s, left:left + s].float() / 255.0
    if flip:
        arr = arr.flip(-1)
    if spec.mean is not None and spec.std is not None:
        arr = (arr - torch.tensor(spec.mean).view(3, 1, 1)) / torch.tensor(spec.std).view(3, 1, 1)
    return arr.contiguous()


def load_input(path: Any, spec: InputSpec) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(eval input (3, size, size), (height, width) of the original)`` for an image file."""
    resized, hw = load_resized(path, spec)
    return crop_view(resized, spec), hw


def feature_function(image_model: Any, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``g``: a batch of model inputs (B, 3, S, S) -> raw features (B, G), no gradient.

    Torch image models run their network directly; others (numpy extractors) get PIL images.
    """
    from bench.images.base import TorchImageModel

    image_model.load()
    if isinstance(image_model, TorchImageModel):
        def torch_features(batch: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return image_model._forward(batch.to(image_model.torch_device())).float().to(device)
        return torch_features

    def pil_features(batch: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        images = [Image.fromarray((x.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8))
                  for x in batch]
        return torch.from_numpy(image_model.embed(images)).to(device)
    return pil_features


def normalise_features(features: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """``recipe.normalise`` applied to raw features: subtract ``centre`` (zeros for 'l2'), then L2."""
    return nn.functional.normalize(features.float() - centre.to(features.device), dim=-1)


__all__ = ["InputSpec", "crop_view", "feature_function", "input_spec", "load_input", "load_resized",
           "normalise_features"]
