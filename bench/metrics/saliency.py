"""Saliency metrics: NSS, CC, shuffled AUC, fixation density (MIT saliency benchmark recipes).

Per-image functions on 2-D maps (numpy arrays or torch tensors); a task scores every test image and
averages over images (:func:`saliency_scores` does that loop). The reference code is the MIT
benchmark's MATLAB ``code_forMetrics`` (Bylinskii et al. 2018): ``NSS.m``, ``CC.m``,
``AUC_shuffled.m`` and ``antonioGaussian.m``.

Maps:
- ``saliency_map``: any real 2-D map (H', W'); resized to the fixation map's size when it differs,
  as the MIT code does with MATLAB ``imresize`` (bicubic, antialiased when shrinking). Here: torch
  bicubic with ``antialias=True`` (Keys a = -0.5 kernel, the same kernel and antialiasing as
  MATLAB and PIL; borders are handled by renormalising the kernel instead of MATLAB's mirroring,
  so the outermost pixels can differ slightly from MATLAB's).
- ``fixation_map``: binary (H, W) map, nonzero where a fixation landed (counts > 1 collapse to one
  location, as in the MIT code).
- ``other_fixations``: binary (H, W) union of the fixations of other images (MIT's ``otherMap``,
  M = 10 other images by default; build it with :func:`other_fixations_map`).

Constant saliency maps: NSS and CC are undefined (zero variance; MIT returns NaN). Here they score
0, the chance value; s-AUC treats a constant map as all zeros after min-max normalisation, which
gives exactly 0.5 (chance). An empty fixation map, or an empty ``other_fixations``, raises
:class:`~bench.metrics._common.MetricInputError`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bench.metrics import METRICS
from bench.metrics._common import MetricInputError, to_numpy

_WHERE = "bench.metrics.saliency"


# ------------------------------------------------------------------------------------ helpers
def _map2d(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x, name, where=_WHERE)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:2])
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise MetricInputError(f"'{name}' has shape {tuple(arr.shape)}; expected a 2-D map (H, W)",
                               where=_WHERE, fix=f"pass one image's map at a time (e.g. {name}[i])")
    return arr


def _fixations(x: Any, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Boolean (H, W) mask of fixated pixels (nonzero entries), checked non-empty and shaped."""
    arr = _map2d(x, name)
    if shape is not None and arr.shape != shape:
        raise MetricInputError(f"'{name}' has shape {arr.shape}; expected {shape}, the fixation map's shape",
                               where=_WHERE, fix="build the other images' fixation map at this image's size "
                                                 "(other_fixations_map rescales coordinates)")
    mask = arr != 0
    if not mask.any():
        raise MetricInputError(f"'{name}' holds no fixations (all zeros)", where=_WHERE,
                               fix="skip images without fixations, or check the fixation loader")
    return mask


def resize_map(saliency_map: Any, shape: tuple[int, int]) -> np.ndarray:
    """A 2-D map resized to ``shape`` (H, W), bicubic with antialiasing (MATLAB ``imresize``-like).

    Returns the map unchanged (as float64) when it already has that shape. Computed in float64.
    """
    import torch
    import torch.nn.functional as F

    arr = _map2d(saliency_map, "saliency_map")
    shape = (int(shape[0]), int(shape[1]))
    if arr.shape == shape:
        return arr
    t = torch.from_numpy(np.ascontiguousarray(arr))[None, None]
    return F.interpolate(t, size=shape, mode="bicubic", align_corners=False, antialias=True)[0, 0].numpy()


def _zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std with ddof=1 (MATLAB ``std``); a constant map becomes zeros."""
    if np.ptp(x) == 0:
        return np.zeros_like(x)
    return (x - x.mean()) / x.std(ddof=1)


# ------------------------------------------------------------------------------------ metrics
@METRICS.register("nss", higher_is_better=True, chance=0.0, ceiling=None,
                  description="NSS: mean of the z-scored saliency map at fixated pixels",
                  recipe="MIT saliency benchmark NSS.m: imresize to the fixation map, z-score (std ddof=1), "
                         "mean at fixations; per image, then mean over images",
                  inputs="saliency_map (H', W'), fixation_map (H, W) binary")
def nss(saliency_map, fixation_map) -> float:
    """Normalized Scanpath Saliency of one image.

    The map is resized to the fixation map's size (bicubic, antialiased), z-scored with the sample
    std (ddof=1, MATLAB's ``std``) and averaged at the fixated pixels.

    Parameters
    ----------
    saliency_map : (H', W') real map. fixation_map : (H, W) binary fixation map (non-empty).

    Returns
    -------
    float (0 = chance; higher is better). A constant map scores 0.

    Example
    -------
    >>> import numpy as np
    >>> fix = np.zeros((4, 4)); fix[0, 0] = 1
    >>> round(nss(fix, fix), 4)
    3.75
    """
    fix = _fixations(fixation_map, "fixation_map")
    smap = _zscore(resize_map(saliency_map, fix.shape))
    return float(smap[fix].mean())


@METRICS.register("cc", higher_is_better=True, chance=0.0, ceiling=1.0,
                  description="CC: Pearson r between the saliency map and the fixation density map",
                  recipe="MIT saliency benchmark CC.m: imresize to the density map, z-score both, corr2; the "
                         "density is the fixation map blurred by antonioGaussian at 8 cycles/image",
                  inputs="saliency_map (H', W'), density_map (H, W) (see fixation_density)")
def cc(saliency_map, density_map) -> float:
    """Linear correlation coefficient between a saliency map and a continuous fixation density map.

    The saliency map is resized to the density map's size (bicubic, antialiased); CC is Pearson's r
    over all pixels (MIT ``CC.m`` z-scores both maps first, which does not change r).

    Parameters
    ----------
    saliency_map : (H', W') real map. density_map : (H, W) real map, usually
        ``fixation_density(fixation_map)``.

    Returns
    -------
    float in [-1, 1]; 0 when either map is constant.

    Example
    -------
    >>> import numpy as np
    >>> d = np.random.default_rng(0).random((8, 8))
    >>> round(cc(2 * d + 1, d), 6)
    1.0
    """
    dmap = _map2d(density_map, "density_map")
    smap = resize_map(saliency_map, dmap.shape)
    a, b = _zscore(smap).ravel(), _zscore(dmap).ravel()
    if not a.any() or not b.any():
        return 0.0
    return float(np.clip(np.dot(a, b) / (a.size - 1), -1.0, 1.0))


def fixation_density(fixation_map, cycles_per_image: float = 8) -> np.ndarray:
    """The continuous ground truth for CC: the fixation map low-passed by a Gaussian (MIT recipe).

    A transcription of the MIT benchmark's ``antonioGaussian.m`` (Torralba 1999, Berga 2017 edition):
    with n = the next power of two >= max(H, W) (rounded up to even), the map is zero-padded into a
    2n x 2n frame at offset (n, n), multiplied in the Fourier domain by
    ``exp(-(fx**2 + fy**2) / s**2)`` for |fx|, |fy| < n/2 (zero beyond), with
    ``s = 2 * cycles_per_image / sqrt(log 2)``, and cropped back. The transfer function falls to 1/2
    at ``cycles_per_image`` cycles per n pixels; equivalently a spatial Gaussian of
    ``sigma = n * sqrt(log(2) / 2) / (pi * cycles_per_image)`` pixels (about 12 px for n = 512 at
    8 cycles per image, roughly 1 degree of visual angle in the MIT setup). Not normalised (the
    filter has unit DC gain; CC is scale-invariant anyway).

    Parameters
    ----------
    fixation_map : (H, W) binary (or count) fixation map.
    cycles_per_image : cut-off frequency (-6 dB) in cycles per image; MIT uses 8.

    Returns
    -------
    (H, W) float64 density map.

    Example
    -------
    >>> import numpy as np
    >>> fix = np.zeros((64, 64)); fix[32, 32] = 1
    >>> d = fixation_density(fix, cycles_per_image=8)
    >>> d.shape, bool(d.argmax() == 32 * 64 + 32)
    ((64, 64), True)
    """
    img = _map2d(fixation_map, "fixation_map")
    if cycles_per_image <= 0:
        raise MetricInputError(f"cycles_per_image={cycles_per_image} must be positive", where=_WHERE,
                               field="cycles_per_image", fix="use 8 (the MIT benchmark's value)")
    h, w = img.shape
    n = max(h, w)
    n += n % 2
    n = int(2 ** np.ceil(np.log2(n)))
    n2 = 2 * n
    padded = np.zeros((n2, n2))
    padded[n:n + h, n:n + w] = img
    s = 2 * cycles_per_image / np.sqrt(np.log(2))          # round(n2 / n) == 2
    f = np.arange(n) - n // 2
    gf = np.exp(-(f[None, :] ** 2 + f[:, None] ** 2) / s ** 2)
    gf2 = np.zeros((n2, n2))
    gf2[n // 2:n // 2 + n, n // 2:n // 2 + n] = gf
    gf2 = np.fft.fftshift(gf2)
    out = np.real(np.fft.ifft2(np.fft.fft2(padded) * gf2))
    return out[n:n + h, n:n + w]


def _normalised_values(saliency_map, shape) -> np.ndarray:
    smap = resize_map(saliency_map, shape)
    lo, hi = smap.min(), smap.max()
    if hi == lo:
        return np.zeros_like(smap)
    return (smap - lo) / (hi - lo)


def _thresholds(top: float, step: float) -> np.ndarray:
    """MATLAB's ``0:step:top`` (k * step for k = 0 .. floor(top / step), with a round-off guard)."""
    return np.arange(int(np.floor(top / step + 1e-9)) + 1) * step


def _stepped_auc(pos: np.ndarray, neg: np.ndarray, step: float) -> float:
    """AUC_shuffled.m's ROC for one split: thresholds 0:step:max, tp/fp at >=, trapezoid."""
    th = _thresholds(float(max(pos.max(), neg.max())), step)[::-1]
    ps, ns = np.sort(pos), np.sort(neg)
    tp = (ps.size - np.searchsorted(ps, th, side="left")) / ps.size    # fraction >= threshold
    fp = (ns.size - np.searchsorted(ns, th, side="left")) / ns.size
    tp = np.concatenate([[0.0], tp, [1.0]])
    fp = np.concatenate([[0.0], fp, [1.0]])
    return float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1]) / 2))


@METRICS.register("s_auc", higher_is_better=True, chance=0.5, ceiling=1.0,
                  description="Shuffled AUC (MIT): negatives sampled from other images' fixations",
                  recipe="MIT saliency benchmark AUC_shuffled.m: min-max normalise, positives at fixations, "
                         "as many negatives sampled without replacement from otherMap (M=10 other images), "
                         "thresholds 0:0.1:max, trapezoid, mean over 100 seeded splits",
                  inputs="saliency_map (H', W'), fixation_map (H, W), other_fixations (H, W)")
def shuffled_auc(saliency_map, fixation_map, other_fixations, n_splits: int = 100, step: float = 0.1,
                 seed: int = 0) -> float:
    """Shuffled AUC of one image, as MIT's ``AUC_shuffled.m`` computes it.

    The map is resized to the fixation map's size and min-max normalised to [0, 1]. Positives are
    its values at the fixated pixels; for each of ``n_splits`` splits, negatives are its values at
    ``min(#positives, #other)`` pixels drawn without replacement from ``other_fixations``. The ROC
    uses thresholds ``0, step, 2 step, ... <= max(values)`` (``>=``), plus the (0, 0) and (1, 1)
    ends; the AUC is the trapezoid area; the score is the mean over splits.

    RNG: ``rng = np.random.default_rng(seed)``; split s uses
    ``other_idx[rng.permutation(len(other_idx))[:k]]`` with ``other_idx =
    np.flatnonzero(other_fixations)`` (row-major). MATLAB's ``randperm`` stream is not reproduced.

    Parameters
    ----------
    saliency_map : (H', W') real map. fixation_map, other_fixations : (H, W) binary maps (non-empty).
    n_splits, step, seed : MIT defaults 100 and 0.1; the seed is ours.

    Returns
    -------
    float in [0, 1] (0.5 = chance, also the score of a constant map).

    Example
    -------
    >>> import numpy as np
    >>> fix = np.zeros((8, 8)); fix[2, 2] = 1
    >>> other = np.zeros((8, 8)); other[6, 6] = 1
    >>> shuffled_auc(fix, fix, other)
    1.0
    """
    fix = _fixations(fixation_map, "fixation_map")
    oth = _fixations(other_fixations, "other_fixations", fix.shape)
    if n_splits < 1 or step <= 0:
        raise MetricInputError(f"n_splits={n_splits} and step={step} must be positive", where=_WHERE,
                               fix="use the MIT defaults n_splits=100, step=0.1")
    values = _normalised_values(saliency_map, fix.shape).ravel()
    pos = values[fix.ravel()]
    other_idx = np.flatnonzero(oth.ravel())
    k = min(pos.size, other_idx.size)
    rng = np.random.default_rng(seed)
    aucs = [_stepped_auc(pos, values[other_idx[rng.permutation(other_idx.size)[:k]]], step)
            for _ in range(n_splits)]
    return float(np.mean(aucs))


@METRICS.register("s_auc_exact", higher_is_better=True, chance=0.5, ceiling=1.0,
                  description="Shuffled AUC, exact ROC against all other images' fixations",
                  recipe="exact variant (pysaliency-style): positives at fixations, negatives at every pixel of "
                         "otherMap, exact ROC area = P(pos > neg) + P(pos = neg) / 2",
                  inputs="saliency_map (H', W'), fixation_map (H, W), other_fixations (H, W)")
def shuffled_auc_exact(saliency_map, fixation_map, other_fixations) -> float:
    """Shuffled AUC with the exact ROC and all other-image fixations as negatives (no sampling).

    The labelled "exact" variant for comparison with pysaliency-style numbers: the area under the
    exact ROC of positives (map values at this image's fixations) against negatives (map values at
    every fixated pixel of ``other_fixations``), i.e. ``P(pos > neg) + 0.5 P(pos == neg)`` over all
    pairs (the Mann-Whitney U statistic divided by the number of pairs). Invariant to any increasing
    transform of the map, so no normalisation is needed; the map is resized like the other metrics.

    Returns
    -------
    float in [0, 1]; 0.5 for a constant map.

    Example
    -------
    >>> import numpy as np
    >>> fix = np.zeros((8, 8)); fix[2, 2] = 1
    >>> other = np.zeros((8, 8)); other[6, 6] = 1
    >>> shuffled_auc_exact(-fix, fix, other)
    0.0
    """
    fix = _fixations(fixation_map, "fixation_map")
    oth = _fixations(other_fixations, "other_fixations", fix.shape)
    values = resize_map(saliency_map, fix.shape).ravel()
    pos = values[fix.ravel()]
    neg = np.sort(values[oth.ravel()])
    below = np.searchsorted(neg, pos, side="left")
    equal = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * equal.sum()) / (pos.size * neg.size))


# ------------------------------------------------------------------------------ dataset helpers
def other_fixations_map(fixation_maps: Sequence[Any], index: int, n_other: int = 10, seed: int = 0,
                        shape: tuple[int, int] | None = None) -> np.ndarray:
    """MIT's ``otherMap`` for image ``index``: the union of the fixations of ``n_other`` other images.

    The other images are drawn without replacement with ``np.random.default_rng(seed).choice(
    [i for i in range(N) if i != index], min(n_other, N - 1), replace=False)``. Fixations of an image
    of another size are mapped to ``shape`` (default: image ``index``'s shape) by scaling pixel
    centres: row r -> floor((r + 0.5) * H / h), likewise for columns.

    Parameters
    ----------
    fixation_maps : sequence of N 2-D binary fixation maps (sizes may differ). index : the image.
    n_other, seed : number of other images (Borji / MIT: 10) and the draw's seed (vary it per image,
        e.g. ``seed=base_seed * 100003 + index``, so images do not share one draw pattern).

    Returns
    -------
    (H, W) bool map.
    """
    n = len(fixation_maps)
    if n < 2:
        raise MetricInputError("shuffled AUC needs fixations of at least 2 images", where=_WHERE,
                               fix="score a set of images, not a single one")
    if not 0 <= index < n:
        raise MetricInputError(f"index={index} is outside 0..{n - 1}", where=_WHERE, field="index",
                               fix="pass the position of the scored image in fixation_maps")
    if shape is None:
        shape = _map2d(fixation_maps[index], f"fixation_maps[{index}]").shape
    candidates = np.array([i for i in range(n) if i != index])
    chosen = np.random.default_rng(seed).choice(candidates, min(n_other, n - 1), replace=False)
    out = np.zeros(shape, dtype=bool)
    for i in chosen:
        m = _map2d(fixation_maps[int(i)], f"fixation_maps[{int(i)}]") != 0
        rows, cols = np.nonzero(m)
        if m.shape != tuple(shape):
            rows = np.floor((rows + 0.5) * shape[0] / m.shape[0]).astype(int)
            cols = np.floor((cols + 0.5) * shape[1] / m.shape[1]).astype(int)
        out[rows, cols] = True
    return out


def saliency_scores(saliency_maps: Sequence[Any], fixation_maps: Sequence[Any], *,
                    metrics: Sequence[str] = ("nss", "cc", "s_auc", "s_auc_exact"),
                    cycles_per_image: float = 8, n_other: int = 10, n_splits: int = 100, step: float = 0.1,
                    seed: int = 0) -> dict[str, Any]:
    """Score a set of images: per-image NSS / CC / s-AUC / exact s-AUC and their means.

    Image i's other-fixation map uses ``other_fixations_map(fixation_maps, i, n_other,
    seed=seed * 100003 + i)`` and its s-AUC split draws ``seed=seed * 100003 + i`` as well; CC uses
    ``fixation_density(fixation_maps[i], cycles_per_image)``.

    Returns
    -------
    ``{"scores": {metric: mean over images}, "per_image": {metric: (N,) array}}``.
    """
    if len(saliency_maps) != len(fixation_maps):
        raise MetricInputError(f"{len(saliency_maps)} saliency maps but {len(fixation_maps)} fixation maps",
                               where=_WHERE, fix="pass one saliency map per image, in the same order")
    unknown = sorted(set(metrics) - {"nss", "cc", "s_auc", "s_auc_exact"})
    if unknown:
        raise MetricInputError(f"unknown saliency metric(s) {unknown}", where=_WHERE, field="metrics",
                               fix="use nss, cc, s_auc, s_auc_exact")
    per_image: dict[str, list[float]] = {m: [] for m in metrics}
    for i, (smap, fmap) in enumerate(zip(saliency_maps, fixation_maps)):
        image_seed = seed * 100003 + i
        other = None
        if "s_auc" in metrics or "s_auc_exact" in metrics:
            other = other_fixations_map(fixation_maps, i, n_other, seed=image_seed)
        for m in metrics:
            if m == "nss":
                per_image[m].append(nss(smap, fmap))
            elif m == "cc":
                per_image[m].append(cc(smap, fixation_density(fmap, cycles_per_image)))
            elif m == "s_auc":
                per_image[m].append(shuffled_auc(smap, fmap, other, n_splits, step, image_seed))
            else:
                per_image[m].append(shuffled_auc_exact(smap, fmap, other))
    arrays = {m: np.asarray(v, dtype=np.float64) for m, v in per_image.items()}
    return {"scores": {m: float(v.mean()) for m, v in arrays.items()}, "per_image": arrays}


__all__ = ["cc", "fixation_density", "nss", "other_fixations_map", "resize_map", "saliency_scores",
           "shuffled_auc", "shuffled_auc_exact"]
