"""Image models that need no weights: honest, fast stand-ins for the demo and for tests.

They are *not* substitutes for CLIP/DreamSim features; they exist so the harness runs end to end on a
machine without weights (the simulator's procedurally drawn stimuli — shapes, colours, textures — are
well described by them), and their names say what they are.

- ``pixels-colour-texture``: hand-made features computed with numpy/scikit-image — downsampled pixels,
  colour histograms (whole image + a grid of cells), HOG and LBP texture, and (``shape=True``, the
  default) descriptors of the segmented foreground (object count, area, solidity, hole, Hu moments,
  outline harmonics). The blocks are made comparable (histograms square-rooted, then every block
  centred and L2-normalised, equal weight), so the full vector has unit norm.
- ``random-convnet``: a small conv net whose weights are drawn from a seeded generator (He-normal,
  numpy PCG64) and never trained; multi-scale max-pooled ReLU features plus a coarse 2x2 layout grid,
  each block centred and L2-normalised. Its ``model_id`` includes the seed and its weights checksum hashes the drawn weights,
  so a change in how they are drawn changes the cache key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from bench.images import IMAGE_MODELS
from bench.images.base import ImageModel, TorchImageModel

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _resize_center_crop(image, size: int) -> np.ndarray:
    """Shortest side to ``size`` (PIL bilinear, antialiased), centre crop; float32 HxWx3 in [0, 1]."""
    from PIL import Image

    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.float32) / 255.0


def _block(x: np.ndarray) -> np.ndarray:
    """Centre and L2-normalise one feature block (a constant block becomes zeros)."""
    x = x.astype(np.float64).ravel()
    x = x - x.mean()
    n = np.linalg.norm(x)
    return x / n if n > 1e-12 else x


def _regions(h: int, grid: int) -> list[tuple[slice, slice]]:
    """Whole image, then ``grid`` x ``grid`` cells."""
    out = [(slice(0, h), slice(0, h))]
    step = h // grid
    for i in range(grid):
        for j in range(grid):
            out.append((slice(i * step, (i + 1) * step), slice(j * step, (j + 1) * step)))
    return out


_SHAPE_HARMONICS = 8
_SHAPE_DIM = 4 + 6 + 3 + _SHAPE_HARMONICS


def _shape_descriptors(rgb: np.ndarray) -> np.ndarray:
    """Descriptors of the foreground (pixels far, in colour, from the border's median colour).

    Foreground: Otsu threshold of the colour distance to the median border colour. Returns, in
    roughly [0, 1]: one-hot object count (1, 2, 3, 4+ components of >= 1% of the image), foreground
    fraction, and for the largest component: area fraction, eccentricity, extent (area / bounding
    box), whether it has a hole, log-compactness (boundary pixels^2 / 4 pi area) / 2, its first three
    Hu moments (-log10 |hu| / 10), and the amplitudes of harmonics 1-8 of its outline radius
    r(angle) around the centroid relative to the mean radius (a lobed outline shows its lobe count).
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    s = rgb.shape[0]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    dist = np.linalg.norm(rgb - np.median(border, 0), axis=2)
    out = np.zeros(_SHAPE_DIM)
    if dist.max() - dist.min() < 1e-3:
        return out
    fg = dist > threshold_otsu(dist)
    labels, n = ndimage.label(fg)
    if n == 0:
        return out
    areas = np.bincount(labels.ravel())[1:]
    big = np.flatnonzero(areas >= 0.01 * s * s)
    if big.size == 0:
        return out
    out[min(big.size, 4) - 1] = 1.0
    mask = labels == (int(np.argmax(areas)) + 1)
    ys, xs = np.nonzero(mask)
    area = float(ys.size)
    cy, cx = ys.mean(), xs.mean()
    dy, dx = ys - cy, xs - cx
    mu20, mu02, mu11 = (dx * dx).mean(), (dy * dy).mean(), (dx * dy).mean()
    common = np.sqrt(((mu20 - mu02) / 2) ** 2 + mu11 ** 2)
    big_axis, small_axis = (mu20 + mu02) / 2 + common, (mu20 + mu02) / 2 - common
    eccentricity = np.sqrt(max(0.0, 1 - small_axis / big_axis)) if big_axis > 0 else 0.0
    extent = area / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    has_hole = float(ndimage.binary_fill_holes(mask).sum() > area)
    boundary = float((mask & ~ndimage.binary_erosion(mask)).sum())
    compact = boundary ** 2 / (4 * np.pi * area)
    # Hu moments 1-3 from normalised central moments eta_pq = mu_pq / area^(1 + (p+q)/2) (pixel sums)
    eta = {pq: (dx ** pq[0] * dy ** pq[1]).sum() / area ** (1 + sum(pq) / 2)
           for pq in ((2, 0), (0, 2), (1, 1), (3, 0), (0, 3), (2, 1), (1, 2))}
    hu = np.array([eta[2, 0] + eta[0, 2],
                   (eta[2, 0] - eta[0, 2]) ** 2 + 4 * eta[1, 1] ** 2,
                   (eta[3, 0] - 3 * eta[1, 2]) ** 2 + (3 * eta[2, 1] - eta[0, 3]) ** 2])
    out[4:10] = [fg.mean(), area / (s * s), eccentricity, extent, has_hole, np.log(max(compact, 1e-6)) / 2]
    out[10:13] = -np.log10(np.abs(hu) + 1e-12) / 10
    bins = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * 64).astype(np.int64) % 64
    outline = np.zeros(64)
    np.maximum.at(outline, bins, np.hypot(dy, dx))
    spectrum = np.abs(np.fft.rfft(outline))[1:_SHAPE_HARMONICS + 1] / 32.0
    out[13:] = spectrum / max(outline.mean(), 1e-6)
    return out


@IMAGE_MODELS.register("pixels-colour-texture", aliases=("pixels-color-texture",))
class PixelsColourTexture(ImageModel):
    """Downsampled pixels + colour histograms + HOG/LBP texture + foreground shape (numpy / scikit-image).

    Parameters: ``size`` (working resolution, default 64, a multiple of 4 and of ``grid``), ``grid``
    (cells per side for the regional histograms, default 2), ``shape`` (add the foreground-shape
    block, default True; its model_id then says ``-shape``).
    """

    name = "pixels-colour-texture"
    _VERSION = 1  # bump when the feature recipe changes: it is part of model_id, hence the cache key
    _HUE_BINS = 12
    _VALUE_BINS = 4
    _PIXELS = 8
    _LBP_P = 8

    def __init__(self, settings, size: int = 64, grid: int = 2, shape: bool = True) -> None:
        super().__init__(settings)
        self.size = size
        self.grid = grid
        self.shape = shape

    def check_params(self) -> None:
        if not isinstance(self.size, int) or self.size < 16 or self.size % 4:
            raise self._bad_param("size", f"size must be an integer >= 16 divisible by 4, got {self.size!r}",
                                  "use e.g. size=64")
        if not isinstance(self.grid, int) or self.grid < 1 or self.size % self.grid:
            raise self._bad_param("grid", f"grid must be a positive integer dividing size, got {self.grid!r}",
                                  "use e.g. grid=2")
        if not isinstance(self.shape, bool):
            raise self._bad_param("shape", f"shape must be true or false, got {self.shape!r}", "use shape=true")

    @property
    def model_id(self) -> str:
        return f"pixels-colour-texture:s{self.size}-g{self.grid}{'-shape' if self.shape else ''}-v{self._VERSION}"

    def preprocessing(self) -> dict[str, Any]:
        return {"library": "PIL+scikit-image", "size": [self.size, self.size],
                "resize": "shortest side to size", "interpolation": "bilinear (PIL, antialiased)",
                "crop": "centre", "mean": None, "std": None}

    def _block_names(self) -> list[str]:
        return ["pixels", "colour", "hog", "lbp"] + (["shape"] if self.shape else [])

    def normalisation(self) -> str:
        names = self._block_names()
        return f"per-block centre + l2, {len(names)} equal blocks ({', '.join(names)})"

    def weights_checksum(self) -> str:
        return "none"

    @property
    def dim(self) -> int:
        regions = 1 + self.grid * self.grid
        cells = 4
        hog = (cells - 1) ** 2 * 2 * 2 * 9
        return (self._PIXELS ** 2 * 3 + regions * (self._HUE_BINS + self._VALUE_BINS) + hog
                + regions * (self._LBP_P + 2) + (_SHAPE_DIM if self.shape else 0))

    def _load(self) -> None:
        import skimage.feature  # noqa: F401  (fail early if scikit-image is missing)

    def _embed(self, images) -> np.ndarray:
        return np.stack([self._features(_resize_center_crop(im, self.size)) for im in images])

    def _features(self, rgb: np.ndarray) -> np.ndarray:
        from skimage.color import rgb2hsv
        from skimage.feature import hog, local_binary_pattern

        s = self.size
        # 1. pixels: area-average to 8 x 8
        k = s // self._PIXELS
        pixels = rgb[: k * self._PIXELS, : k * self._PIXELS].reshape(self._PIXELS, k, self._PIXELS, k, 3).mean((1, 3))
        # 2. colour: hue histogram weighted by chroma, value histogram weighted by achroma, per region
        hsv = rgb2hsv(rgb)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        chroma = sat * val
        hue_bin = np.minimum((hue * self._HUE_BINS).astype(np.int64), self._HUE_BINS - 1)
        val_bin = np.minimum((val * self._VALUE_BINS).astype(np.int64), self._VALUE_BINS - 1)
        gray = rgb @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
        lbp = local_binary_pattern((gray * 255).astype(np.uint8), self._LBP_P, 1, method="uniform").astype(np.int64)
        colour, texture = [], []
        for rows, cols in _regions(s, self.grid):
            n = float((rows.stop - rows.start) * (cols.stop - cols.start))
            colour.append(np.bincount(hue_bin[rows, cols].ravel(), chroma[rows, cols].ravel(),
                                      minlength=self._HUE_BINS) / n)
            colour.append(np.bincount(val_bin[rows, cols].ravel(), (1 - sat[rows, cols]).ravel(),
                                      minlength=self._VALUE_BINS) / n)
            texture.append(np.bincount(lbp[rows, cols].ravel(), minlength=self._LBP_P + 2) / n)
        # 3. texture: HOG on a 4 x 4 cell grid, 2 x 2 blocks
        hog_vec = hog(gray, orientations=9, pixels_per_cell=(s // 4, s // 4), cells_per_block=(2, 2),
                      block_norm="L2-Hys", feature_vector=True)
        blocks = [_block(pixels - 0.5), _block(np.sqrt(np.concatenate(colour))), _block(hog_vec),
                  _block(np.sqrt(np.concatenate(texture)))]
        if self.shape:
            blocks.append(_block(_shape_descriptors(rgb)))
        # equal-weight unit blocks -> a unit vector
        return (np.concatenate(blocks) / np.sqrt(len(blocks))).astype(np.float32)


@IMAGE_MODELS.register("random-convnet")
class RandomConvNet(TorchImageModel):
    """A fixed, seeded, untrained conv net: 4 stride-2 3x3 conv + ReLU stages (width w, 2w, 4w, 8w).

    Features: global max of stages 2-4 (what is present, wherever it is) and a 2x2 average grid of
    stage 4 (coarse layout), each block centred and L2-normalised. Parameters: ``seed`` (default 0), ``width`` (default 16), ``size`` (input
    resolution, default 96), ``device``.
    """

    name = "random-convnet"
    _VERSION = 1

    def __init__(self, settings, seed: int = 0, width: int = 16, size: int = 96, device: str | None = None) -> None:
        super().__init__(settings)
        self.seed = seed
        self.width = width
        self.size = size
        self.device = device

    def check_params(self) -> None:
        for field, value, low, example in (("seed", self.seed, 0, 0), ("width", self.width, 1, 16),
                                           ("size", self.size, 32, 96)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise self._bad_param(field, f"{field} must be an integer >= {low}, got {value!r}",
                                      f"use e.g. {field}={example}")

    @property
    def model_id(self) -> str:
        return f"random-convnet:w{self.width}-s{self.size}-seed{self.seed}-v{self._VERSION}"

    def preprocessing(self) -> dict[str, Any]:
        return {"library": "PIL+torch", "size": [self.size, self.size], "resize": "shortest side to size",
                "interpolation": "bilinear (PIL, antialiased)", "crop": "centre",
                "mean": list(_IMAGENET_MEAN), "std": list(_IMAGENET_STD)}

    def normalisation(self) -> str:
        return "per-block centre + l2, 4 equal blocks"

    def _channels(self) -> list[int]:
        return [3, self.width, 2 * self.width, 4 * self.width, 8 * self.width]

    def _draw_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """He-normal conv weights and zero biases from ``numpy.random.default_rng(seed)``."""
        rng = np.random.default_rng(self.seed)
        ch = self._channels()
        out = []
        for cin, cout in zip(ch[:-1], ch[1:]):
            w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
            out.append((w.astype(np.float32), np.zeros(cout, dtype=np.float32)))
        return out

    def weights_checksum(self) -> str:
        h = hashlib.sha256()
        for w, b in self._draw_weights():
            h.update(w.tobytes())
            h.update(b.tobytes())
        return f"random-init-seed{self.seed}-sha256:{h.hexdigest()}"

    @property
    def dim(self) -> int:
        w = self.width
        return 2 * w + 4 * w + 8 * w + 4 * 8 * w

    def _load(self) -> None:
        import torch
        from torch import nn

        class _Net(nn.Module):
            def __init__(self, channels: list[int]) -> None:
                super().__init__()
                self.stages = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1)
                                            for a, b in zip(channels[:-1], channels[1:]))

            def forward(self, x):
                feats = []
                for conv in self.stages:
                    x = torch.relu(conv(x))
                    feats.append(x)
                blocks = [f.amax((2, 3)) for f in feats[1:]]
                blocks.append(nn.functional.adaptive_avg_pool2d(feats[-1], 2).flatten(1))
                normed = []
                for b in blocks:
                    b = b - b.mean(1, keepdim=True)
                    normed.append(nn.functional.normalize(b, dim=1))
                return torch.cat(normed, 1) / 2.0

        net = _Net(self._channels())
        with torch.no_grad():
            for conv, (w, b) in zip(net.stages, self._draw_weights()):
                conv.weight.copy_(torch.from_numpy(w))
                conv.bias.copy_(torch.from_numpy(b))
        self._net = net.to(self.torch_device()).eval().requires_grad_(False)
        mean = torch.tensor(_IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(_IMAGENET_STD).view(3, 1, 1)
        size = self.size

        def transform(image):
            arr = _resize_center_crop(image, size)
            return (torch.from_numpy(arr).permute(2, 0, 1) - mean) / std

        self._transform = transform

    def _forward(self, batch):
        return self._net(batch)
