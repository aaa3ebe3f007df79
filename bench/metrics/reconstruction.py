"""Image-reconstruction metrics: the arithmetic of the MindEye / mind-vis tables (PROTOCOLS.md section 4).

Pure functions; every one accepts numpy arrays or torch tensors and returns Python floats or
numpy arrays. The feature extractors that turn images into the features used by
:func:`two_way_identification` and :func:`correlation_distance` live in
:mod:`bench.metrics.features` (which also registers AlexNet(2), AlexNet(5), Inception, CLIP,
EffNet-B, SwAV, N-way and IS in :data:`bench.metrics.METRICS`).

Images are float in [0, 1] with shape ``(N, 3, H, W)`` (RGB, channels first); uint8 arrays are
accepted and divided by 255. Every image is first resized to 256 x 256 (bilinear), as MindEye1
``src/Reconstruction_Metrics.py`` does, then to the metric's own size.

Resizing: ``antialias=True`` (default) is torchvision's current tensor ``Resize`` (and PIL's)
behaviour. MindEye1 ran torchvision 0.14, whose tensor ``Resize`` did *not* antialias; pass
``antialias=False`` to reproduce its published numbers exactly (the difference only matters
when shrinking, e.g. 512 -> 256).

Constant inputs: Pearson's r of a constant vector is undefined; PixCorr, two-way identification and
correlation distance use r = 0 for it (see :mod:`bench.metrics._common`), so a blank reconstruction
scores PixCorr 0, correlation distance 1 and loses every two-way comparison (ties fail).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics import METRICS
from bench.metrics._common import (MetricInputError, as_feature_matrix, check_pair, cross_pearson,
                                   is_tensor, rowwise_pearson, to_numpy)

BASE_SIZE = 256          # every image is first resized to BASE_SIZE x BASE_SIZE (MindEye)
PIXEL_SIZE = 425         # PixCorr and SSIM work at 425 x 425 (MindEye)
TIE_TOL = 1e-10          # two-way identification: r_ij within TIE_TOL of r_jj is a tie (round-off)

_WHERE = "bench.metrics.reconstruction"


# --------------------------------------------------------------------------------------- images
def as_images(x: Any, name: str = "images"):
    """``x`` as a float32 torch tensor ``(N, 3, H, W)`` in [0, 1]; clear errors otherwise.

    Accepts numpy arrays or torch tensors, float in [0, 1] or uint8 (divided by 255). Values
    outside [0, 1] by more than 1e-6 are refused (clamp them first); smaller excursions are clipped.
    """
    import torch

    if is_tensor(x):
        t = x.detach().cpu()
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise MetricInputError(f"'{name}' has non-numeric dtype {arr.dtype}", where=_WHERE,
                                   fix="pass float images in [0, 1] as a numpy array or torch tensor")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    elif not t.is_floating_point():
        raise MetricInputError(f"'{name}' has dtype {t.dtype}; expected float in [0, 1] or uint8",
                               where=_WHERE, fix="convert with images.float() / 255 or pass uint8")
    t = t.float()
    if t.ndim != 4 or t.shape[1] != 3:
        hint = ""
        if t.ndim == 4 and t.shape[-1] == 3:
            hint = " (it looks channels-last: use images.permute(0, 3, 1, 2) / np.moveaxis(images, -1, 1))"
        elif t.ndim == 3 and t.shape[0] == 3:
            hint = " (a single image: add the batch axis with images[None])"
        elif t.ndim == 4 and t.shape[1] == 1:
            hint = " (grayscale: repeat the channel with images.repeat(1, 3, 1, 1))"
        raise MetricInputError(f"'{name}' has shape {tuple(t.shape)}; expected (N, 3, H, W){hint}",
                               where=_WHERE, fix="pass RGB images as (N, 3, H, W) floats in [0, 1]")
    if t.shape[0] == 0:
        raise MetricInputError(f"'{name}' holds no images", where=_WHERE, fix="pass at least one image")
    bad = ~torch.isfinite(t)
    if bad.any():
        raise MetricInputError(f"'{name}' holds {int(bad.sum())} NaN/Inf value(s)", where=_WHERE,
                               fix="repair the images (a NaN usually comes from a diverged decoder)")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise MetricInputError(f"'{name}' has values in [{lo:.4g}, {hi:.4g}]; expected [0, 1]", where=_WHERE,
                               fix="map decoder outputs to [0, 1] (e.g. (x / 2 + 0.5).clamp(0, 1)) "
                                   "or divide uint8-range floats by 255")
    if lo < 0 or hi > 1:
        t = t.clamp(0.0, 1.0)          # a copy: never modify the caller's tensor
    return t


def resized_shape(h: int, w: int, size: int | tuple[int, int]) -> tuple[int, int]:
    """Output (H, W) of torchvision ``Resize(size)``: an int sets the shorter side, keeping aspect."""
    if not isinstance(size, int):
        return int(size[0]), int(size[1])
    if h <= w:
        return size, int(size * w / h)
    return int(size * h / w), size


def resize_images(images, size: int | tuple[int, int], *, antialias: bool = True,
                  mode: str = "bilinear"):
    """Resize a float tensor ``(N, C, H, W)`` like torchvision's tensor ``Resize(size)``.

    ``size`` int: shorter side (aspect kept); (h, w): exact size. ``mode`` "bilinear" or "bicubic"
    (bicubic output is clamped to [0, 1], as PIL does for 8-bit images).
    """
    import torch.nn.functional as F

    out_hw = resized_shape(images.shape[-2], images.shape[-1], size)
    if tuple(images.shape[-2:]) == out_hw:
        return images
    out = F.interpolate(images, size=out_hw, mode=mode, align_corners=False, antialias=antialias)
    return out.clamp_(0.0, 1.0) if mode == "bicubic" else out


def _pixel_batches(gt, rec, batch_size: int, antialias: bool):
    """Yield (gt, rec) batches resized to 256 x 256 then 425 x 425, float32 (B, 3, 425, 425)."""
    g = as_images(gt, "gt")
    r = as_images(rec, "rec")
    if g.shape[0] != r.shape[0]:
        raise MetricInputError(f"'gt' has {g.shape[0]} images but 'rec' has {r.shape[0]}", where=_WHERE,
                               fix="pass one reconstruction per ground-truth image, in the same order")
    for s in range(0, g.shape[0], batch_size):
        out = []
        for x in (g[s:s + batch_size], r[s:s + batch_size]):
            x = resize_images(x, (BASE_SIZE, BASE_SIZE), antialias=antialias)
            out.append(resize_images(x, PIXEL_SIZE, antialias=antialias))
        yield out[0], out[1]


# ------------------------------------------------------------------------------ pixel metrics
@METRICS.register("pixcorr", higher_is_better=True, chance=0.0, ceiling=1.0,
                  description="PixCorr: Pearson r of pixel values (RGB, 425 x 425), mean over images",
                  recipe="MindEye1 src/Reconstruction_Metrics.py: Resize(256x256) -> Resize(425, bilinear) "
                         "-> Pearson r over flattened RGB per image -> mean",
                  inputs="gt, rec: (N, 3, H, W) float in [0, 1]")
def pixcorr(gt, rec, per_image: bool = False, *, antialias: bool = True, batch_size: int = 64):
    """PixCorr: Pearson r between ground truth and reconstruction pixels, per image, then the mean.

    Parameters
    ----------
    gt, rec : (N, 3, H, W) float in [0, 1] (numpy or torch; uint8 accepted). H, W may differ
        between the two sets: both are resized to 256 x 256, then to 425 x 425 (bilinear).
    per_image : return the (N,) array of per-image r instead of the mean.
    antialias : see the module docstring (False reproduces MindEye1's torchvision 0.14 resize).

    Returns
    -------
    float in [-1, 1] (mean over images), or (N,) float64 array. A constant image gives r = 0.

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((2, 3, 64, 64))
    >>> round(pixcorr(x, x), 6)
    1.0
    """
    values = []
    for g, r in _pixel_batches(gt, rec, batch_size, antialias):
        values.append(rowwise_pearson(g.reshape(g.shape[0], -1).double().numpy(),
                                      r.reshape(r.shape[0], -1).double().numpy()))
    out = np.concatenate(values)
    return out if per_image else float(out.mean())


@METRICS.register("ssim", higher_is_better=True, chance=None, ceiling=1.0,
                  description="SSIM of grayscale images (425 x 425), mean over images",
                  recipe="MindEye1: Resize(256x256) -> Resize(425, bilinear) -> skimage.color.rgb2gray -> "
                         "skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, "
                         "use_sample_covariance=False, data_range=1.0) on the 2-D image -> mean",
                  inputs="gt, rec: (N, 3, H, W) float in [0, 1]")
def ssim(gt, rec, per_image: bool = False, *, antialias: bool = True, batch_size: int = 64):
    """SSIM on grayscale images with scikit-image, the MindEye recipe.

    Each image is resized to 256 x 256 then 425 x 425 (bilinear), converted with
    ``skimage.color.rgb2gray`` (float64) and scored with
    ``skimage.metrics.structural_similarity(rec, gt, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0)`` on the 2-D image (not per colour channel, not
    torchmetrics, whose padding differs).

    Parameters
    ----------
    gt, rec : (N, 3, H, W) float in [0, 1]. per_image : return the (N,) array instead of the mean.

    Returns
    -------
    float in [-1, 1] (mean over images), or (N,) float64 array.

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((2, 3, 64, 64))
    >>> round(ssim(x, x), 6)
    1.0
    """
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    values = []
    for g, r in _pixel_batches(gt, rec, batch_size, antialias):
        gg = rgb2gray(g.permute(0, 2, 3, 1).double().numpy())
        rg = rgb2gray(r.permute(0, 2, 3, 1).double().numpy())
        for a, b in zip(gg, rg):
            values.append(structural_similarity(b, a, gaussian_weights=True, sigma=1.5,
                                                use_sample_covariance=False, data_range=1.0))
    out = np.asarray(values, dtype=np.float64)
    return out if per_image else float(out.mean())


# ---------------------------------------------------------------------------- feature metrics
def two_way_identification(gt_feats, rec_feats, per_image: bool = False, *, tie_tol: float = TIE_TOL):
    """Two-way identification accuracy on features (MindEye's ``two_way_identification``; chance 0.5).

    ``r[i, j]`` = Pearson r between ground-truth features i and reconstruction features j. For each
    reconstruction j, the score is the fraction of the N - 1 other ground truths i with
    ``r[i, j] < r[j, j]`` (the reconstruction is closer to its own ground truth than to image i);
    exhaustive over all distractors, **ties fail** (``r[i, j] >= r[j, j] - tie_tol`` counts as a
    failure; ``tie_tol`` = 1e-10 only absorbs floating-point round-off). This anchors on the
    reconstruction (column j of ``np.corrcoef(gt, rec)[:N, N:]``), as MindEye1 does.

    Parameters
    ----------
    gt_feats, rec_feats : (N, ...) features of the ground truths and the reconstructions, flattened
        to (N, D); N >= 2.
    per_image : return the (N,) per-reconstruction fractions instead of their mean.

    Returns
    -------
    float in [0, 1] (mean over reconstructions), or (N,) float64 array. A constant feature vector
    correlates 0 with everything (so a constant reconstruction ties, and fails, every comparison).

    Example
    -------
    >>> import numpy as np
    >>> g = np.random.default_rng(0).normal(size=(4, 10))
    >>> two_way_identification(g, g + 0.01)
    1.0
    """
    g = as_feature_matrix(gt_feats, "gt_feats", where=_WHERE)
    r = as_feature_matrix(rec_feats, "rec_feats", where=_WHERE)
    check_pair(g, r, ("gt_feats", "rec_feats"), min_n=2, where=_WHERE)
    n = g.shape[0]
    corr = cross_pearson(g, r)                       # corr[i, j] = r(gt_i, rec_j)
    congruent = np.diag(corr)
    success = corr < (congruent[None, :] - tie_tol)  # the diagonal never succeeds
    out = success.sum(axis=0) / (n - 1)
    return out.astype(np.float64) if per_image else float(out.mean())


def correlation_distance(gt_feats, rec_feats, per_image: bool = False):
    """Mean correlation distance ``1 - r`` between each reconstruction and its own ground truth.

    The EffNet-B and SwAV columns of the MindEye table (``scipy.spatial.distance.correlation`` per
    pair, then the mean). Lower is better: 0 = perfectly correlated, 1 = uncorrelated, 2 = anti-.

    Parameters
    ----------
    gt_feats, rec_feats : (N, ...) features, flattened to (N, D); N >= 1.
    per_image : return the (N,) distances instead of their mean.

    Returns
    -------
    float in [0, 2], or (N,) float64 array. A constant vector gives distance 1 (scipy gives NaN).

    Example
    -------
    >>> import numpy as np
    >>> g = np.random.default_rng(0).normal(size=(3, 8))
    >>> round(correlation_distance(g, 2 * g + 1), 6)
    0.0
    """
    g = as_feature_matrix(gt_feats, "gt_feats", where=_WHERE)
    r = as_feature_matrix(rec_feats, "rec_feats", where=_WHERE)
    check_pair(g, r, ("gt_feats", "rec_feats"), min_n=1, where=_WHERE)
    out = 1.0 - rowwise_pearson(g, r)
    return out if per_image else float(out.mean())


# ------------------------------------------------------------------------------ classifier metrics
def _class_indices(gt_class, n: int, n_classes: int) -> np.ndarray:
    arr = to_numpy(gt_class, "gt_class", where=_WHERE).reshape(-1)
    if arr.shape[0] != n:
        raise MetricInputError(f"'gt_class' has {arr.shape[0]} entries but 'rec_probs' has {n} rows",
                               where=_WHERE, fix="pass one ground-truth class per reconstruction")
    if not np.all(arr == np.round(arr)) or arr.min() < 0 or arr.max() >= n_classes:
        raise MetricInputError(f"'gt_class' must hold integer class indices in [0, {n_classes})",
                               where=_WHERE, fix="pass argmax class ids of the ground-truth images")
    return arr.astype(np.int64)


def n_way_top_k_accuracy(gt_class, rec_probs, n_way: int = 50, top_k: int = 1, trials: int | None = 1000,
                         seed: int = 0, per_image: bool = False):
    """N-way top-k accuracy of reconstructions under an ImageNet classifier (mind-vis protocol).

    For reconstruction j with ground-truth class ``c = gt_class[j]`` (in mind-vis: the classifier's
    argmax on the ground-truth image) and class probabilities ``p = rec_probs[j]``: each trial draws
    ``n_way - 1`` distinct distractor classes among the other C - 1 classes; the trial succeeds when
    fewer than ``top_k`` of the drawn classes have ``p >= p[c]`` (the true class is in the top k of
    the n_way; **ties fail** -- mind-vis's torchmetrics call lets index 0, the true class, win ties).
    The score of an image is its success rate over ``trials``; the result is the mean over images.

    RNG protocol (exact, so results are reproducible and paired across submissions)::

        rs = np.random.RandomState(seed)           # one stream for the whole call
        for j in range(N):                         # images in order
            others = [i for i in range(C) if i != gt_class[j]]   # ascending
            for t in range(trials):
                picked = others[rs.permutation(C - 1)[:n_way - 1]]

    ``rs.permutation(C - 1)[:n_way - 1]`` is exactly what ``np.random.choice(others, n_way - 1,
    replace=False)`` draws, so this equals mind-vis's ``get_n_way_top_k_acc`` run after
    ``np.random.seed(seed)`` (up to the tie rule).

    ``trials=None`` gives the exact expectation instead (no sampling): with b = number of other
    classes with ``p >= p[c]``, the accuracy is ``P(X < top_k)`` for X ~ Hypergeometric(C - 1, b,
    n_way - 1) -- the limit of the sampled score for infinitely many trials.

    Parameters
    ----------
    gt_class : (N,) int class indices in [0, C).
    rec_probs : (N, C) class probabilities of the reconstructions (logits work too: only the order
        within a row matters). C >= n_way.
    n_way, top_k : 2 <= n_way <= C, 1 <= top_k <= n_way.
    trials, seed : number of seeded trials per image (None: exact expectation).
    per_image : return the (N,) per-image accuracies instead of the mean.

    Returns
    -------
    float in [0, 1] (chance = top_k / n_way), or (N,) float64 array.

    Example
    -------
    >>> import numpy as np
    >>> p = np.eye(100)[[3, 7]]            # confident and correct
    >>> n_way_top_k_accuracy([3, 7], p, n_way=50, trials=10)
    1.0
    """
    probs = to_numpy(rec_probs, "rec_probs", where=_WHERE)
    if probs.ndim != 2:
        raise MetricInputError(f"'rec_probs' has shape {tuple(probs.shape)}; expected (N, C)", where=_WHERE,
                               fix="pass one row of class probabilities per reconstruction")
    n, c = probs.shape
    if n < 1:
        raise MetricInputError("'rec_probs' has no rows", where=_WHERE, fix="score at least one image")
    if not 2 <= n_way <= c:
        raise MetricInputError(f"n_way={n_way} must be between 2 and the number of classes C={c}",
                               where=_WHERE, field="n_way", fix="use a smaller n_way (mind-vis: 50)")
    if not 1 <= top_k <= n_way:
        raise MetricInputError(f"top_k={top_k} must be between 1 and n_way={n_way}", where=_WHERE,
                               field="top_k", fix="use 1 <= top_k <= n_way")
    if trials is not None and trials < 1:
        raise MetricInputError(f"trials={trials} must be positive (or None for the exact expectation)",
                               where=_WHERE, field="trials", fix="use trials=1000 (mind-vis) or None")
    classes = _class_indices(gt_class, n, c)
    out = np.empty(n, dtype=np.float64)
    if trials is None:
        from scipy.stats import hypergeom

        for j in range(n):
            others = np.delete(probs[j], classes[j])
            beats = int(np.count_nonzero(others >= probs[j, classes[j]]))
            out[j] = hypergeom.cdf(top_k - 1, c - 1, beats, n_way - 1)
    else:
        rs = np.random.RandomState(seed)
        for j in range(n):
            beats = np.delete(probs[j], classes[j]) >= probs[j, classes[j]]
            hits = 0
            for _ in range(trials):
                if np.count_nonzero(beats[rs.permutation(c - 1)[:n_way - 1]]) < top_k:
                    hits += 1
            out[j] = hits / trials
    return out if per_image else float(out.mean())


def inception_score(probs, splits: int = 10, seed: int = 0, *, from_logits: bool = False) -> tuple[float, float]:
    """Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` over ``splits`` seeded splits: (mean, std).

    Protocol (torch-fidelity's, with our seed): rows are shuffled with
    ``np.random.RandomState(seed).permutation(N)``; split s holds rows ``[s*N//splits,
    (s+1)*N//splits)`` of the shuffled array; in each split p(y) is the mean of p(y|x) and the
    split's score is ``exp(mean_x sum_y p(y|x) (log p(y|x) - log p(y)))``; the result is the mean
    and the population std (ddof=0, as in Salimans et al.'s and torch-fidelity's code) of the split
    scores. Computed in float64; 0 log 0 = 0.

    Which classifier produces ``probs`` is the caller's statement to make: the harness uses
    torchvision Inception-v3 IMAGENET1K_V1 logits (``bench.metrics.features``), not the TF-ported
    FID Inception that torch-fidelity uses, so numbers are comparable only within that choice.

    Parameters
    ----------
    probs : (N, C) class probabilities (rows sum to 1 within 1e-3; renormalised exactly), or logits
        with ``from_logits=True`` (softmax taken here in float64). N >= splits.
    splits, seed : number of splits (10 by convention) and shuffle seed.

    Returns
    -------
    (mean, std): floats; 1 <= IS <= C.

    Example
    -------
    >>> import numpy as np
    >>> mean, std = inception_score(np.eye(10)[np.arange(100) % 10], splits=1)
    >>> round(mean, 6), round(std, 6)
    (10.0, 0.0)
    """
    from scipy.special import rel_entr, softmax

    p = to_numpy(probs, "probs", where=_WHERE)
    if p.ndim != 2:
        raise MetricInputError(f"'probs' has shape {tuple(p.shape)}; expected (N, C)", where=_WHERE,
                               fix="pass one row of class probabilities per image")
    n = p.shape[0]
    if splits < 1 or n < splits:
        raise MetricInputError(f"need at least splits={splits} images, got {n}", where=_WHERE,
                               field="splits", fix="score more images or use fewer splits")
    if from_logits:
        p = softmax(p, axis=1)
    else:
        sums = p.sum(axis=1)
        if p.min() < 0 or np.abs(sums - 1).max() > 1e-3:
            raise MetricInputError("'probs' rows are not probability vectors (negative values or sums != 1)",
                                   where=_WHERE, fix="pass softmax probabilities, or logits with from_logits=True")
        p = p / sums[:, None]
    p = p[np.random.RandomState(seed).permutation(n)]
    scores = []
    for s in range(splits):
        part = p[s * n // splits:(s + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = rel_entr(part, marginal).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


__all__ = ["BASE_SIZE", "PIXEL_SIZE", "TIE_TOL", "as_images", "correlation_distance", "inception_score",
           "n_way_top_k_accuracy", "pixcorr", "resize_images", "resized_shape", "ssim", "two_way_identification"]
