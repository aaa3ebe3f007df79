"""Saliency from a brain/image compatibility function (Palazzo et al. 2020 TPAMI), scored on fixations.

For an image ``v`` and the EEG ``e`` recorded while it was seen, the multiscale suppression map is

    S(x, y) = sum over sigma of [ F(e, v) - F(e, m_sigma(x, y) * v) ],  sigma in {3, 5, 9, 17, 33, 65}

where ``m_sigma(x, y)`` suppresses the sigma x sigma patch centred on pixel (x, y) (sets it to 0
of the model's normalised input, i.e. the normalisation mean colour) and ``F`` is the submission's
compatibility (:mod:`bench.training.joint`: dot product for the triplet loss, cosine for InfoNCE).
With several EEG items of one image (several subjects), ``S`` is the mean of their maps. Each map
is min-max normalised per image.

Computation (:func:`suppression_map`): masked copies of the model input are built in batches on
the device (``batch_size`` per forward pass) and scored at once. ``exact`` evaluates every pixel
(S x S x 6 forward passes per image: 536k at 299 px); ``strided`` evaluates patch centres on a
grid with step ``stride`` (always including the last row and column) and interpolates linearly
in between, ``stride**2`` times fewer passes. ``ci/bench_saliency.py`` reports the time per image
of both and their agreement (CC).

Sigma is in pixels of the model input (Palazzo: Inception-v3's 299 px); ``sigma_reference`` scales
them to another input size (``sigma * size / reference``, rounded to an odd number >= 1).

Geometry: the map covers the model input (the image model's centre crop); it is pasted into the
original image frame (outside the crop: the map's minimum) before scoring. Metrics
(:mod:`bench.metrics.saliency`, MIT benchmark recipes) resize it to the fixation map's size:
``s_auc`` (M = 10 other images, 100 splits), ``s_auc_exact``, ``nss``, ``cc`` per image, then the
mean over images. The metric's random draws use ``protocol.metric_seed`` (identical across units
and submissions, so per-image outcomes are paired).

Baselines, scored on the same fixations: ``centre`` (an isotropic-in-relative-units Gaussian at
the image centre, s.d. ``centre_sigma`` x width/height) and ``classifier`` (the same suppression
scored by the log-probability of the true class under the softmax image classifier trained on the
joint image embeddings; Palazzo used an ImageNet classifier's log-likelihood).

One unit = one seed (``scheme: pooled``: all subjects' EEG; ``within-subject``: one subject's).
Metrics: ``s_auc``, ``s_auc_exact``, ``nss``, ``cc`` (the model) and ``baseline/<name>/<metric>``.
Per item (one row per scored test image): ``item_id`` plus every metric for the model and
``<baseline>_<metric>``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

import numpy as np

from bench.settings import Settings
from bench.tasks import TASK_KINDS
from bench.tasks.base import Unit
from bench.tasks.palazzo import ImageNetEEGKind, ImageNetEEGProtocol, imagenet_fingerprint, unit_subjects
from bench.tasks.pipeline import Scored, UnitContext

if TYPE_CHECKING:  # pragma: no cover
    import torch

PALAZZO_SIGMAS = (3, 5, 9, 17, 33, 65)
METRICS = ("s_auc", "s_auc_exact", "nss", "cc")


class SaliencyProtocol(ImageNetEEGProtocol):
    """Saliency protocol: suppression scales, exact or strided computation, baselines, metric settings."""

    sigmas: list[int] = list(PALAZZO_SIGMAS)
    sigma_reference: int | None = None
    mode: Literal["exact", "strided"] = "strided"
    stride: int = 4
    batch_size: int = 256
    max_images: int | None = None
    baselines: list[Literal["centre", "classifier"]] = ["centre", "classifier"]
    centre_sigma: float = 0.25
    n_other: int = 10
    n_splits: int = 100
    cycles_per_image: float = 8.0
    metric_seed: int = 0


# ------------------------------------------------------------------------------------------------
# The map
# ------------------------------------------------------------------------------------------------

def grid_positions(n: int, stride: int) -> np.ndarray:
    """Patch centres along one axis: every ``stride`` pixels from 0, plus the last pixel."""
    return np.unique(np.r_[np.arange(0, n, max(1, int(stride))), n - 1]).astype(np.int64)


def upsample_linear(coarse: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Separable linear interpolation of values at (ys x xs) grid points to the full (H, W) grid."""
    h, w = shape
    if len(ys) == h and len(xs) == w:
        return coarse
    rows = np.stack([np.interp(np.arange(w), xs, r) for r in coarse])             # (len(ys), W)
    return np.stack([np.interp(np.arange(h), ys, c) for c in rows.T], axis=1)      # (H, W)


def scaled_sigmas(sigmas: Sequence[int], size: int, reference: int | None) -> list[int]:
    """Sigmas in model-input pixels (scaled from ``reference`` px when given; odd, >= 1)."""
    if not reference:
        return [int(s) for s in sigmas]
    out = []
    for s in sigmas:
        v = max(1, int(round(s * size / reference)))
        out.append(v if v % 2 else v + 1)
    return out


def suppression_map(score_fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, sigmas: Sequence[int], *,
                    stride: int = 1, batch_size: int = 256, fill: torch.Tensor | float = 0.0,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """``S(y, x) = sum_sigma [score(v) - score(m_sigma(y, x) * v)]`` for one model input (C, H, W).

    score_fn:   (B, C, H, W) -> (B,) scores, larger = more compatible.
    sigmas:     patch sides in pixels; the patch of centre (y, x) covers rows
                ``y - sigma//2 .. y - sigma//2 + sigma - 1`` (clipped at the border), same for columns.
    stride:     1 = exact (every pixel); k > 1 = centres every k pixels (plus the last row/column),
                linearly interpolated in between.
    batch_size: masked copies per forward pass. fill: value of suppressed pixels, per channel
                ((C, 1, 1) tensor) or a scalar.

    Returns the (H, W) float64 map (not normalised).
    """
    import torch

    with torch.inference_mode():
        dev = torch.device(device)
        image = image.to(dev).float()
        c, h, w = image.shape
        fill_t = torch.as_tensor(fill, dtype=image.dtype, device=dev)
        if fill_t.ndim == 0:
            fill_t = fill_t.expand(c, 1, 1)
        ys, xs = grid_positions(h, stride), grid_positions(w, stride)
        cy = torch.from_numpy(np.repeat(ys, len(xs))).to(dev)
        cx = torch.from_numpy(np.tile(xs, len(ys))).to(dev)
        rows = torch.arange(h, device=dev)
        cols = torch.arange(w, device=dev)
        base = float(score_fn(image[None])[0])
        total = torch.zeros(len(cy), dtype=torch.float64, device=dev)
        for sigma in sigmas:
            lo = int(sigma) // 2
            hi = int(sigma) - lo - 1
            for start in range(0, len(cy), batch_size):
                yc, xc = cy[start:start + batch_size], cx[start:start + batch_size]
                rm = (rows[None] >= yc[:, None] - lo) & (rows[None] <= yc[:, None] + hi)
                cm = (cols[None] >= xc[:, None] - lo) & (cols[None] <= xc[:, None] + hi)
                mask = (rm[:, :, None] & cm[:, None, :])[:, None]                    # (B, 1, H, W)
                batch = torch.where(mask, fill_t[None], image[None])
                total[start:start + len(yc)] += base - score_fn(batch).double()
        coarse = total.cpu().numpy().reshape(len(ys), len(xs))
        return upsample_linear(coarse, ys, xs, (h, w))


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x, dtype=np.float64) if hi == lo else (x - lo) / (hi - lo)


def paste_map(smap: np.ndarray, box: tuple[float, float, float, float], size_hw: tuple[int, int]) -> np.ndarray:
    """The model-input map placed in the original image frame (H, W); outside the crop: the minimum."""
    import torch
    import torch.nn.functional as F

    h, w = size_hw
    x0, y0, x1, y1 = box
    bx0, by0 = int(round(x0)), int(round(y0))
    bw, bh = max(1, int(round(x1)) - bx0), max(1, int(round(y1)) - by0)
    resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(smap))[None, None], size=(bh, bw),
                            mode="bilinear", align_corners=False)[0, 0].numpy()
    out = np.full((h, w), float(smap.min()))
    out[by0:by0 + bh, bx0:bx0 + bw] = resized[: h - by0, : w - bx0]
    return out


def centre_bias_map(size_hw: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """Gaussian centre prior: s.d. ``sigma`` x width horizontally and ``sigma`` x height vertically."""
    h, w = size_hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    return np.exp(-0.5 * (((xx - w / 2) / (sigma * w)) ** 2 + ((yy - h / 2) / (sigma * h)) ** 2))


# ------------------------------------------------------------------------------------------------
# The task kind
# ------------------------------------------------------------------------------------------------

@TASK_KINDS.register("saliency")
class Saliency(ImageNetEEGKind):
    """Compatibility-suppression saliency on ImageNet-EEG fixations; see the module docstring."""

    name = "saliency"
    ProtocolModel = SaliencyProtocol

    def __init__(self, task) -> None:
        super().__init__(task)
        from bench.errors import ConfigError

        p = self.protocol
        if p.stride < 1 or p.batch_size < 1 or not p.sigmas or min(p.sigmas) < 1 or (p.max_images is not None
                                                                                   and p.max_images < 2):
            raise ConfigError("saliency protocol: stride, batch_size and sigmas must be >= 1, max_images >= 2",
                              where=f"task '{task.name}'", field="protocol",
                              fix="e.g. sigmas: [3, 5, 9, 17, 33, 65], stride: 4, batch_size: 256")

    def fingerprint(self, unit: Unit, settings: Settings) -> dict[str, str]:
        return imagenet_fingerprint(self, unit, settings, fixations=True)

    def chance(self) -> dict[str, float]:
        return {"s_auc": 0.5, "s_auc_exact": 0.5, "nss": 0.0, "cc": 0.0}

    # ---- the unit's steps (prepare/train: ImageNetEEGKind; the order: bench.tasks.pipeline) -------
    def load_test(self, ctx: UnitContext, prepared: Any, trained: Any) -> dict[str, Any]:
        """Test EEG, test images with fixations (at most ``max_images``), their labels."""
        from bench.errors import DataError

        ds, _ = prepared
        subjects = unit_subjects(self.task, ctx.unit)
        with ctx.timed("maps"):
            test = ds.load_subjects(subjects, "test")
            images = ds.images("test")
            fixations = ds.fixations("test")
            labels = dict(zip(images.ids, ds.labels_of_images(images.ids)))
        rows_of: dict[str, list[int]] = {}
        for i, image_id in enumerate(test.image_ids):
            rows_of.setdefault(str(image_id), []).append(i)
        chosen = [(k, path) for k, path in zip(images.ids, images.paths) if k in fixations and k in rows_of]
        if self.protocol.max_images is not None:
            chosen = chosen[: self.protocol.max_images]
        if len(chosen) < 2:
            raise DataError(f"only {len(chosen)} test image(s) have both fixations and EEG of subjects {subjects}",
                            where=ds.root / "fixations", fix="shuffled AUC needs fixations of at least 2 images")
        return {"eeg": test, "images": images, "fixations": fixations, "labels": labels, "rows_of": rows_of,
                "chosen": chosen}

    def checkpoints(self, ctx: UnitContext, trained: Any) -> list[tuple[str, str | None]]:
        return [("", "best")]

    def score(self, ctx: UnitContext, prepared: Any, trained: Any, test: dict[str, Any], label: str) -> Scored:
        """Suppression maps of the model (and the baselines) per chosen test image, scored on fixations."""
        import torch
        from tqdm.auto import tqdm

        from bench.metrics.saliency import saliency_scores
        from bench.training.image_inputs import load_input
        from bench.training.joint import fit_classifiers

        p = self.protocol
        _, data = prepared
        classifier = (fit_classifiers(trained, data, ctx.settings, p.classifier_l2).image
                      if "classifier" in p.baselines else None)
        t = time.perf_counter()
        chosen, rows_of, labels, fixations = test["chosen"], test["rows_of"], test["labels"], test["fixations"]
        emb = trained.eeg_embedding(test["eeg"].signals, test["eeg"].subjects)
        spec = trained.spec
        sigmas = scaled_sigmas(p.sigmas, spec.size, p.sigma_reference)
        stride = 1 if p.mode == "exact" else p.stride
        fill = spec.fill
        maps: dict[str, list[np.ndarray]] = {"model": []}
        for name in p.baselines:
            maps[name] = []
        fix_maps = []
        t_maps = 0.0
        for image_id, path in tqdm(chosen, desc="saliency", unit="img", disable=not ctx.progress):
            x, (h, w) = load_input(path, spec)
            box = spec.box(w, h)
            brain = trained.brain_vectors(emb[rows_of[image_id]])

            def compat(batch: torch.Tensor, brain: torch.Tensor = brain) -> torch.Tensor:
                return trained.similarity(brain, trained.image_vectors(batch)).mean(0)

            tm = time.perf_counter()
            maps["model"].append(minmax(paste_map(suppression_map(compat, x, sigmas, stride=stride,
                                                                  batch_size=p.batch_size, fill=fill,
                                                                  device=trained.device), box, (h, w))))
            t_maps += time.perf_counter() - tm
            if "classifier" in maps:
                y = int(labels[image_id])

                def log_likelihood(batch: torch.Tensor, y: int = y) -> torch.Tensor:
                    return classifier.log_proba(trained.image_joint_from_pixels(batch))[:, y]

                maps["classifier"].append(minmax(paste_map(suppression_map(
                    log_likelihood, x, sigmas, stride=stride, batch_size=p.batch_size, fill=fill,
                    device=trained.device), box, (h, w))))
            if "centre" in maps:
                maps["centre"].append(centre_bias_map((h, w), p.centre_sigma))
            fix_maps.append(fixations[image_id].binary_map())
        ctx.timings["maps"] = ctx.timings.get("maps", 0.0) + time.perf_counter() - t
        ctx.timings["model_map_per_image"] = t_maps / len(chosen)

        metrics: dict[str, float] = {}
        per_item: dict[str, list] = {"item_id": [k for k, _ in chosen]}
        with ctx.timed("score"):
            for name, ms in maps.items():
                scores = saliency_scores(ms, fix_maps, metrics=METRICS, cycles_per_image=p.cycles_per_image,
                                         n_other=p.n_other, n_splits=p.n_splits, seed=p.metric_seed)
                prefix = "" if name == "model" else f"baseline/{name}/"
                col = "" if name == "model" else f"{name}_"
                for m in METRICS:
                    metrics[prefix + m] = scores["scores"][m]
                    per_item[col + m] = [float(v) for v in scores["per_image"][m]]
        passes = len(sigmas) * len(grid_positions(spec.size, stride)) ** 2
        ctx.info.update({"n_images": len(chosen), "n_test_images": len(test["images"]), "mode": p.mode,
                         "stride": stride, "sigmas_pixels": sigmas, "input_size": spec.size,
                         "forward_passes_per_image": passes, "baselines": list(p.baselines), "chance": self.chance(),
                         "n_eeg_per_image": float(np.mean([len(rows_of[k]) for k, _ in chosen]))})
        return Scored(metrics, per_item)


__all__ = ["PALAZZO_SIGMAS", "Saliency", "SaliencyProtocol", "centre_bias_map", "grid_positions", "minmax",
           "paste_map", "scaled_sigmas", "suppression_map", "upsample_linear"]
