"""Simulated ImageNet-EEG in its published layout, with the block-design confound and planted saliency.

What is written (see ``bench/data/imagenet_eeg.py`` for the layout the loader reads)::

    <out>/eeg_5_95_std.pth, eeg_14_70_std.pth, eeg_55_95_std.pth     torch.save of {"dataset": [{"eeg":
    <out>/eeg_signals_raw_with_mean_std.pth                               FloatTensor[C, T], "image", "label",
                                                                          "subject"}, ...], "labels", "images"}
                                                                          (the raw file adds "means"/"stddevs")
    <out>/block_splits_by_image_all.pth, block_splits_by_image_single.pth {"splits": [{"train","val","test"}, ...]}
    <out>/images/<wnid>/<wnid>_<n>.JPEG                                   the stimuli
    <out>/fixations/fixations.csv                                         image,x,y,width,height per fixation
    <out>/simulation.json                                                 how it was made, planted objects

**Study.** ``n_classes`` classes x ``images_per_class`` images; every subject sees every image once,
0.5 s per image, in the same presentation order (like the published single-subject splits assume).
``design="block"`` (the published design): one block per class, images shuffled within the block,
blocks in a random order. ``design="randomized"``: the images in a random order; "blocks" are then
just consecutive runs of trials of the same length, unrelated to the class.

**Signals** (per trial, 1 kHz, ``T`` samples, mostly 490-560; ~3 % shorter than 450 and ~2 %
longer than 600 so the published length filter has something to do):

- stimulus-driven part: the shared forward model (``forward_model.py``) on the image's latent
  features (concept factors shared by a class, low-level factors per image), SNR ``snr``;
- block signature (the confound, scaled by ``confound``; 0 switches it off): per block a
  per-channel offset and a per-channel within-trial ramp (< 1 Hz), a slow random walk over the
  session, and 55-95 Hz "muscle" noise whose per-channel amplitude changes from block to block.
  In the block design a block is a class, so all of these identify the class (Li et al. 2021); in
  the randomized design they do not.

Band files are made like a real recording's: the block signature is added to the stimulus-driven
part first and the *sum* is band-passed (4th-order Butterworth, zero phase), so a band-passed file
loses the block offsets and ramps (< 1 Hz) but keeps the block-wise 55-95 Hz power (Li et al. decode
the 55-95 Hz file well above chance). A mean/trend probe on the 5-95 Hz file therefore misses the
confound while the raw file and band power keep it (what :mod:`bench.tasks.controls` probes). Each
band file is then standardised per channel over all kept items ("_std"). The raw file holds the
unfiltered sum.

**Images with planted saliency.** The class-relevant object (class hue spread evenly over classes,
class shape, a grating of per-image orientation) sits at a random position on a class-independent
cluttered background; ``simulation.json`` records its
centre and radius per image. **Fixations** are drawn around the object (85 %) or uniformly (15 %).

Deterministic from ``seed``; ``tiny`` takes seconds.
"""

from __future__ import annotations

import colorsys
import csv
import json
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench import HARNESS_VERSION
from bench.data.imagenet_eeg import (FIXATION_CSV, FIXATION_FOLDER, IMAGE_FOLDER, SFREQ, SPLIT_FILES,
                                     VARIANT_FILES)
from bench.data.simulate import SIMULATORS, stimuli, write_simulation_info
from bench.data.simulate.forward_model import Component, ForwardModel
from bench.errors import ConfigError, DataError

DEFAULT_SNR = 1.0
"""Single-trial evoked/noise power ratio of the stimulus-driven part."""

BANDS: dict[str, tuple[float, float] | None] = {"5-95": (5.0, 95.0), "14-70": (14.0, 70.0), "55-95": (55.0, 95.0),
                                                "raw": None}
DESIGNS = ("block", "randomized")

#: ERP components of the stimulus-driven part. The published band-passed files decode, so the
#: simulated response must survive their 5 Hz high-pass: the forward model's default bumps (s.d. up to
#: 110 ms) put the class information below 5 Hz, where only the raw file would keep it. These are
#: sharper (s.d. 15-25 ms, energy up to ~10 Hz) and carry mostly the class ("concept") features, the
#: image-specific ("low") ones weakly: ImageNet-EEG is a class-decoding dataset.
FAST_COMPONENTS: tuple[Component, ...] = (
    Component(0.100, 0.015, ("low",), base=1.0, modulation=0.1),
    Component(0.170, 0.018, ("concept",), base=-1.2, modulation=0.4),
    Component(0.250, 0.020, ("concept",), base=0.9, modulation=0.4),
    Component(0.330, 0.025, ("concept",), base=0.5, modulation=0.3),
)


@dataclass(frozen=True)
class SizeSpec:
    """How big a simulated ImageNet-EEG is."""

    n_classes: int
    images_per_class: int
    n_chans: int
    image_size: int
    n_splits: int = 6
    fixations_per_image: int = 16

    @property
    def n_images(self) -> int:
        return self.n_classes * self.images_per_class


SIZES: dict[str, SizeSpec] = {
    # seconds: 10 classes x 10 images, 32 channels, 64 px images (tests and the demo)
    "tiny": SizeSpec(n_classes=10, images_per_class=10, n_chans=32, image_size=64, n_splits=2),
    # 40 classes x 10 images, the real 128 channels
    "small": SizeSpec(n_classes=40, images_per_class=10, n_chans=128, image_size=128),
    # the published shapes: 40 x 50 images (1600/200/200), 128 channels (~3 GB per band file for 6 subjects)
    "full": SizeSpec(n_classes=40, images_per_class=50, n_chans=128, image_size=256, fixations_per_image=24),
}


def resolve_size(size: str | SizeSpec) -> SizeSpec:
    if isinstance(size, SizeSpec):
        return size
    if size not in SIZES:
        raise ConfigError(f"unknown size '{size}'", field="simulation.size", fix=f"use one of {list(SIZES)}")
    return SIZES[size]


def channel_positions(n: int) -> np.ndarray:
    """(n, 3) unit vectors spread evenly over the upper part of the sphere (a generic cap layout)."""
    k = np.arange(n) + 0.5
    z = 1 - k / n * 1.1                      # from the vertex down to ~10 degrees below the equator
    r = np.sqrt(np.clip(1 - z ** 2, 0, None))
    phi = k * np.pi * (3 - np.sqrt(5))        # golden angle
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _bandpass(x: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, band, btype="bandpass", fs=SFREQ, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


class ImageNetEEGSimulation:
    """The simulated study for one ``(size, seed, design)``: classes, images, order, brains (in memory)."""

    def __init__(self, size: str | SizeSpec = "tiny", seed: int = 0, design: str = "block",
                 confound: float = 1.0) -> None:
        if design not in DESIGNS:
            raise ConfigError(f"unknown design '{design}'", field="design", fix=f"use one of {DESIGNS}")
        if int(seed) < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}", field="seed", fix="use a non-negative integer")
        if not confound >= 0:
            raise ConfigError(f"confound must be >= 0, got {confound}", field="confound", fix="use e.g. 1.0 (0: none)")
        self.spec = resolve_size(size)
        self.size_name = size if isinstance(size, str) else "custom"
        self.seed = int(seed)
        self.design = design
        self.confound = float(confound)

    # -- stimuli ---------------------------------------------------------------------------------
    @cached_property
    def classes(self) -> dict[str, np.ndarray | list]:
        spec = self.spec
        rng = np.random.default_rng([self.seed, 0x1E])
        numbers = rng.choice(np.arange(1_000_000, 9_999_999), spec.n_classes, replace=False)
        wnids = [f"n{int(x):08d}" for x in numbers]
        means = stimuli.concept_means(spec.n_classes, rng)
        label = np.repeat(np.arange(spec.n_classes), spec.images_per_class)
        feats = stimuli.image_features(means, label, rng)
        ids = rng.choice(np.arange(1000, 99999), spec.n_images, replace=False)
        stems = [f"{wnids[c]}_{int(i)}" for c, i in zip(label, ids)]
        return {"wnids": wnids, "label": label, "features": feats, "stems": stems, "means": means}

    @property
    def labels(self) -> np.ndarray:
        return self.classes["label"]  # type: ignore[return-value]

    @property
    def features(self) -> np.ndarray:
        return self.classes["features"]  # type: ignore[return-value]

    def image_id(self, k: int) -> str:
        return f"{self.classes['wnids'][self.labels[k]]}/{self.classes['stems'][k]}"

    @cached_property
    def objects(self) -> np.ndarray:
        """(n_images, 3) planted object (cx, cy, radius) in pixels."""
        s = self.spec.image_size
        rng = np.random.default_rng([self.seed, 0x0B])
        out = np.empty((self.spec.n_images, 3))
        for k in range(self.spec.n_images):
            r = s * rng.uniform(0.18, 0.24) * (1 + 0.1 * np.tanh(self.features[k, 15]))
            out[k] = (rng.uniform(r + 1, s - r - 1), rng.uniform(r + 1, s - r - 1), r)
        return out

    def render(self, k: int) -> np.ndarray:
        """(S, S, 3) uint8: class object on a class-independent cluttered background."""
        s = self.spec.image_size
        f = self.features[k]
        rng = np.random.default_rng([self.seed, 0xB6, k])
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
        # background: mid-grey with soft colour blobs and fine texture, independent of the class
        img = np.full((s, s, 3), rng.uniform(0.35, 0.6), np.float32)
        for _ in range(4):
            cx, cy = rng.uniform(0, s, 2)
            sd = s * rng.uniform(0.15, 0.4)
            w = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sd * sd))[..., None]
            col = np.array(colorsys.hsv_to_rgb(rng.uniform(), 0.12, rng.uniform(0.3, 0.8)), np.float32)
            img = img * (1 - 0.6 * w) + 0.6 * w * col
        img += 0.05 * rng.standard_normal((s, s, 1)).astype(np.float32)
        # object: class shape (lobes, depth, aspect from the class's mean features) and class hue
        # (evenly spread over classes), per-image orientation, grating frequency, size and position
        cx, cy, radius = self.objects[k]
        c = int(self.labels[k])
        m = self.classes["means"][c]
        n_lobes = 3 + c % 5
        depth = 0.15 + 0.25 * stimuli._phi(m[1])
        aspect = float(np.exp(0.25 * np.tanh(m[2])))
        theta = float(np.arctan2(f[11], f[10]) / 2)
        hue = (c * 0.618034 + 0.03 * np.tanh(f[6])) % 1.0
        du, dv = xx - cx, yy - cy
        ru = (du * np.cos(theta) + dv * np.sin(theta)) / aspect
        rv = (-du * np.sin(theta) + dv * np.cos(theta)) * aspect
        rho = np.sqrt(ru * ru + rv * rv)
        edge = radius * (1 + depth * np.cos(n_lobes * np.arctan2(rv, ru)))
        alpha = (1 / (1 + np.exp(np.clip((rho - edge) / 0.8, -30, 30))))[..., None]
        freq = 2.0 + 3.0 * stimuli._phi(f[12])
        grating = 0.65 + 0.35 * np.sin(2 * np.pi * freq * ru / max(radius, 1.0))
        obj = grating[..., None] * np.array(colorsys.hsv_to_rgb(hue, 0.95, 1.0), np.float32)
        img = img * (1 - alpha) + obj * alpha
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)

    def fixations(self, k: int) -> np.ndarray:
        """(n, 2) (x, y) fixations on image ``k``: around the planted object, plus a few anywhere."""
        s = self.spec.image_size
        rng = np.random.default_rng([self.seed, 0xF1, k])
        n = self.spec.fixations_per_image
        cx, cy, r = self.objects[k]
        near = rng.random(n) < 0.85
        pts = np.where(near[:, None], rng.normal([cx, cy], 0.5 * r, (n, 2)), rng.uniform(0, s, (n, 2)))
        return np.clip(pts, 0, s - 1e-3)

    # -- design ----------------------------------------------------------------------------------
    @cached_property
    def order(self) -> np.ndarray:
        """Image index of each trial, in presentation order (the same for every subject)."""
        rng = np.random.default_rng([self.seed, 0x0D])
        per = self.spec.images_per_class
        if self.design == "block":
            blocks = [rng.permutation(np.flatnonzero(self.labels == c)) for c in rng.permutation(self.spec.n_classes)]
            return np.concatenate(blocks)
        return rng.permutation(self.spec.n_images).astype(np.int64)[: self.spec.n_classes * per]

    @property
    def block_of_trial(self) -> np.ndarray:
        return np.arange(self.spec.n_images) // self.spec.images_per_class

    def lengths(self, subject: int) -> np.ndarray:
        """Samples per trial: mostly 490-560, a few outside the published 450-600 filter."""
        rng = np.random.default_rng([self.seed, 0x7E, subject])
        n = self.spec.n_images
        t = rng.integers(490, 561, n)
        u = rng.random(n)
        t[u < 0.03] = rng.integers(400, 450, int((u < 0.03).sum()))
        t[u > 0.98] = rng.integers(601, 700, int((u > 0.98).sum()))
        return t

    @cached_property
    def model(self) -> ForwardModel:
        return ForwardModel(channel_positions(self.spec.n_chans), stimuli.FEATURE_GROUPS, self.seed,
                            components=FAST_COMPONENTS)

    def subject_signals(self, subject: int, snr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(stimulus part, block signature, lengths)`` of one subject's trials in presentation order.

        Both float32 (n_trials, C, max T); trial ``i`` shows image ``order[i]``.
        """
        spec = self.spec
        lengths = self.lengths(subject)
        t_max = int(lengths.max())
        times = np.arange(t_max) / SFREQ
        rng = np.random.default_rng([self.seed, 0x5B, subject])
        clean = self.model.trials(self.features[self.order], subject, times, 1, snr, rng, sfreq=SFREQ)[:, 0]
        return clean.astype(np.float32), self.block_signature(subject, t_max), lengths

    def block_signature(self, subject: int, t_max: int) -> np.ndarray:
        """(n_trials, C, t_max) float32: offsets, ramps, session drift and 55-95 Hz noise per block."""
        spec = self.spec
        n, c = spec.n_images, spec.n_chans
        out = np.zeros((n, c, t_max), np.float32)
        if self.confound == 0:
            return out
        rng = np.random.default_rng([self.seed, 0xC0, subject])
        n_blocks = int(np.ceil(n / spec.images_per_class))
        a = self.confound
        offsets = rng.normal(0, 0.5 * a, (n_blocks, c))
        ramps = rng.normal(0, 0.4 * a, (n_blocks, c))
        walk = np.cumsum(rng.normal(0, 0.05 * a, (n, c)), axis=0)
        pos = channel_positions(c)
        muscle = 0.3 + np.abs(pos[:, 0])                          # larger over lateral (temporal) sites
        gamma_amp = 0.5 * a * muscle[None] * np.exp(0.6 * rng.standard_normal((n_blocks, c)))
        ramp_t = (np.arange(t_max) - t_max / 2) / SFREQ / 0.5       # about -0.6..0.6 over an epoch
        hf = _bandpass(rng.standard_normal((n, c, t_max + 200)), BANDS["55-95"])[..., 100:100 + t_max]
        hf /= hf.std()
        block = self.block_of_trial
        out += (offsets[block] + walk)[..., None]
        out += ramps[block][..., None] * ramp_t[None, None]
        out += gamma_amp[block][..., None] * hf
        return out.astype(np.float32)

    # -- splits ----------------------------------------------------------------------------------
    def image_splits(self) -> list[dict[str, np.ndarray]]:
        """Per split: image indices of train/val/test (80/10/10 % of each class, by image)."""
        rng = np.random.default_rng([self.seed, 0x5A])
        per = self.spec.images_per_class
        n_val = max(1, round(0.1 * per))
        out = []
        for _ in range(self.spec.n_splits):
            parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
            for c in range(self.spec.n_classes):
                imgs = rng.permutation(np.flatnonzero(self.labels == c))
                parts["test"] += imgs[:n_val].tolist()
                parts["val"] += imgs[n_val:2 * n_val].tolist()
                parts["train"] += imgs[2 * n_val:].tolist()
            out.append({k: np.sort(np.asarray(v, np.int64)) for k, v in parts.items()})
        return out


def _write_images(sim: ImageNetEEGSimulation, out: Path) -> None:
    for k in range(sim.spec.n_images):
        path = out / IMAGE_FOLDER / f"{sim.image_id(k)}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        stimuli.write_jpeg(sim.render(k), path, quality=95)


def _write_fixations(sim: ImageNetEEGSimulation, out: Path) -> None:
    folder = out / FIXATION_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    s = sim.spec.image_size
    with open(folder / FIXATION_CSV, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "x", "y", "width", "height"])
        for k in range(sim.spec.n_images):
            stem = sim.classes["stems"][k]
            for x, y in sim.fixations(k):
                writer.writerow([stem, f"{x:.2f}", f"{y:.2f}", s, s])


def _write_eeg(sim: ImageNetEEGSimulation, out: Path, n_subjects: int, snr: float) -> dict:
    import torch

    parts = [sim.subject_signals(s, snr) for s in range(1, n_subjects + 1)]
    lo, hi = 450, 600
    shapes = {}
    for variant, band in BANDS.items():
        signals = []
        for clean, signature, _ in parts:
            x = clean + signature                     # filter after summing, like a real recording
            signals.append(x if band is None else _bandpass(x, band).astype(np.float32))
        if band is not None:   # standardise per channel over the kept items
            kept = np.concatenate([x[(lens >= lo) & (lens <= hi), :, :lo] for x, (_, _, lens) in zip(signals, parts)])
            mean = kept.mean(axis=(0, 2), keepdims=True)[0]
            std = kept.std(axis=(0, 2), keepdims=True)[0]
            signals = [(x - mean) / std for x in signals]
        dataset = []
        for s, (x, (_, _, lens)) in enumerate(zip(signals, parts), start=1):
            for i, k in enumerate(sim.order):
                dataset.append({"eeg": torch.from_numpy(np.ascontiguousarray(x[i, :, :lens[i]], np.float32)),
                                "image": int(k), "label": int(sim.labels[k]), "subject": s})
        content = {"dataset": dataset, "labels": list(sim.classes["wnids"]), "images": list(sim.classes["stems"])}
        if band is None:
            allx = np.concatenate([x[..., :400] for x in signals])
            content["means"] = torch.from_numpy(allx.mean(axis=(0, 2)).astype(np.float32))
            content["stddevs"] = torch.from_numpy(allx.std(axis=(0, 2)).astype(np.float32))
        path = out / VARIANT_FILES[variant]
        partial = path.with_name(path.name + ".partial")
        torch.save(content, partial)
        partial.replace(path)
        shapes[variant] = [len(dataset), sim.spec.n_chans, "T (490-560 mostly)"]
    return shapes


def _write_splits(sim: ImageNetEEGSimulation, out: Path, n_subjects: int) -> None:
    import torch

    n = sim.spec.n_images
    position = np.empty(n, np.int64)
    position[sim.order] = np.arange(n)          # list position (within a subject) of each image
    all_splits, single_splits = [], []
    for split in sim.image_splits():
        all_splits.append({p: sorted(int(s * n + position[k]) for s in range(n_subjects) for k in idx)
                           for p, idx in split.items()})
        single_splits.append({p: sorted(int(position[k]) for k in idx) for p, idx in split.items()})
    torch.save({"splits": all_splits}, out / SPLIT_FILES["all"])
    torch.save({"splits": single_splits}, out / SPLIT_FILES["single"])


@SIMULATORS.register("imagenet-eeg", aliases=("imagenet_eeg",))
def write_imagenet_eeg(out: Path, *, size: str | SizeSpec = "tiny", subjects: int = 2, seed: int = 0,
                       snr: float = DEFAULT_SNR, variant: str | None = "5-95", progress: bool = False,
                       overwrite: bool = False, design: str = "block", confound: float = 1.0) -> Path:
    """Write a simulated ImageNet-EEG (subjects 1..``subjects``, every band file) under ``out``.

    size: ``"tiny"``, ``"small"``, ``"full"`` or a :class:`SizeSpec`. ``variant`` is accepted for the
    common writer interface and ignored (all four band files are written). ``design``: ``"block"``
    (the published, confounded design) or ``"randomized"``. ``confound``: strength of the block
    signature (0 = none). Returns ``out``.
    """
    out = Path(out)
    if int(subjects) < 1:
        raise ConfigError(f"subjects must be >= 1, got {subjects}", field="subjects", fix="use 1 or more")
    if not float(snr) > 0:
        raise ConfigError(f"snr must be > 0, got {snr}", field="snr", fix="use a positive power ratio, e.g. 1.0")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError("output folder is not empty", where=out,
                        fix="choose a new folder, delete this one, or pass overwrite=True (--force)")
    sim = ImageNetEEGSimulation(size, seed, design, confound)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _write_images(sim, out)
    _write_fixations(sim, out)
    shapes = _write_eeg(sim, out, int(subjects), float(snr))
    _write_splits(sim, out, int(subjects))
    write_simulation_info(out, {
        "dataset": "imagenet-eeg", "size": sim.size_name, "size_spec": asdict(sim.spec), "subjects": int(subjects),
        "seed": int(seed), "snr": float(snr), "design": design, "confound": float(confound), "shapes": shapes,
        "presentation_order": [sim.image_id(int(k)) for k in sim.order],
        "planted_objects": {sim.image_id(k): [round(float(v), 3) for v in sim.objects[k]]
                            for k in range(sim.spec.n_images)},
        "simulator_version": HARNESS_VERSION, "seconds": round(time.time() - started, 2),
    })
    return out


def planted_objects(root: Path) -> dict[str, tuple[float, float, float]]:
    """``image id -> (cx, cy, radius)`` of the planted objects of a simulated folder (from simulation.json)."""
    info = json.loads((Path(root) / "simulation.json").read_text())
    return {k: tuple(v) for k, v in info["planted_objects"].items()}


__all__ = ["SIZES", "SizeSpec", "DEFAULT_SNR", "DESIGNS", "ImageNetEEGSimulation", "write_imagenet_eeg",
           "planted_objects", "channel_positions"]
