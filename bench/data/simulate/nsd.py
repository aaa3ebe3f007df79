"""Simulated NSD fMRI in the MindEye2-style layout ``bench/data/nsd.py`` reads.

What is written::

    <out>/betas_all_subj{XX}_fp32_renorm.hdf5         "betas": float32 (trials with betas, voxels_XX)
    <out>/nsddata/ppdata/subj{XX}/behav/responses.tsv  NSD behaviour table, one row per trial (SUBJECT,
                                                       SESSION, RUN, TRIAL, 73KID, 10KID, ISOLD, ISCORRECT,
                                                       RT, BUTTON, MISSINGDATA); its last session has no
                                                       betas (as NSD's first release withheld sessions)
    <out>/shared1000.npy                               bool (n_images,): the shared images
    <out>/coco_images_224_float16.hdf5                 "images": float16 (n_images, 3, S, S) in [0, 1]
                                                       (S is the size's image size; the name is kept)
    <out>/simulation.json

As in NSD: every subject sees the same shared images ``shared_reps`` times and its own training
images ``train_reps`` times, in a shuffled order; a few shared images are shown only in the withheld
last session, so the test set (shared images with betas) is smaller than the shared mask (NSD's
1,000 -> 982). Voxel counts differ per subject (the published nsdgeneral counts, scaled).

**Signals.** The shared forward model (``forward_model.py``) with voxel "positions" (random points
on the posterior half of the unit sphere; each subject has its own subset, mixing and gain) and one
time point per voxel: the positions are split in four posterior-to-anterior quarters (a
ventral-stream hierarchy) that carry the model's noise-free evoked response at 0.1, 0.17, 0.3 and
0.45 s respectively (low-level features drive the posterior voxels, concept features the anterior
ones), scaled to unit power; a trial adds spatially smooth noise of unit variance:
``sqrt(snr) * gain * pattern + noise``. Noise of trial block ``b`` of subject ``s`` comes from
``(seed, s, b)``.

**Sizes.** ``micro`` (a handful of trials), ``tiny`` (seconds) and ``small`` (1,000 shared images,
2,000 voxels); the published voxel counts (``full``) are refused: the model's spatial noise kernel
is voxels x voxels.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from bench import HARNESS_VERSION
from bench.data.nsd import BETAS_KEY, BETAS_TEMPLATE, RESPONSES_TEMPLATE, SHARED_FILE, STIMULUS_FILES
from bench.data.simulate import SIMULATORS, stimuli, write_simulation_info
from bench.data.simulate.forward_model import ForwardModel
from bench.errors import ConfigError, DataError

DEFAULT_SNR = 0.3
"""Single-trial pattern/noise power ratio (per voxel, on average)."""

PUBLISHED_VOXELS = {1: 15724, 2: 14278, 3: 15226, 4: 13153, 5: 13039, 6: 17907, 7: 12682, 8: 14386}
"""nsdgeneral voxel counts of NSD subjects 1-8; simulated counts keep their ratios to subject 1."""

FMRI_TIMES = np.array([0.1, 0.17, 0.3, 0.45])
TRIAL_BLOCK = 256
MAX_VOXELS = 4000


@dataclass(frozen=True)
class NSDSize:
    """How big a simulated NSD is."""

    shared: int              # images in the shared mask
    shared_withheld: int     # shared images shown only in the withheld (beta-less) last session
    shared_reps: int
    train_images: int        # per subject, its own
    train_reps: int
    voxels: int              # subject 1's voxel count (others scaled by PUBLISHED_VOXELS)
    image_size: int
    trials_per_session: int


SIZES: dict[str, NSDSize] = {
    # a handful of trials: loader tests and end-to-end tests of slow image models
    "micro": NSDSize(shared=14, shared_withheld=2, shared_reps=3, train_images=30, train_reps=2, voxels=60,
                     image_size=16, trials_per_session=24),
    # seconds: the demo task
    "tiny": NSDSize(shared=60, shared_withheld=4, shared_reps=3, train_images=300, train_reps=2, voxels=500,
                    image_size=64, trials_per_session=128),
    "small": NSDSize(shared=1000, shared_withheld=18, shared_reps=3, train_images=3000, train_reps=3, voxels=2000,
                     image_size=128, trials_per_session=750),
    "full": NSDSize(shared=1000, shared_withheld=18, shared_reps=3, train_images=9000, train_reps=3, voxels=15724,
                    image_size=224, trials_per_session=750),
}


def resolve_size(size: str | NSDSize) -> NSDSize:
    if isinstance(size, NSDSize):
        return size
    if size not in SIZES:
        raise ConfigError(f"unknown size '{size}'", field="size", fix=f"use one of {list(SIZES)}")
    return SIZES[size]


def n_voxels(spec: NSDSize, subject: int) -> int:
    """Simulated voxel count of ``subject`` (published ratio to subject 1 times ``spec.voxels``)."""
    ratio = PUBLISHED_VOXELS[int(subject)] / PUBLISHED_VOXELS[1]
    return int(round(spec.voxels * ratio))


class NSDSimulation:
    """The simulated study for one ``(size, seed)``: images, features, per-subject brains and schedules."""

    def __init__(self, size: str | NSDSize = "tiny", seed: int = 0) -> None:
        if int(seed) < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}", field="seed", fix="use a non-negative integer")
        self.spec = resolve_size(size)
        self.seed = int(seed)
        if not 0 <= self.spec.shared_withheld < self.spec.shared:
            raise ConfigError("shared_withheld must be in [0, shared)", field="size")

    def n_images(self, subjects: int) -> int:
        return self.spec.shared + int(subjects) * self.spec.train_images

    def train_index(self, subject: int) -> np.ndarray:
        """0-based image indices of ``subject``'s own training images (after the shared block)."""
        start = self.spec.shared + (int(subject) - 1) * self.spec.train_images
        return np.arange(start, start + self.spec.train_images)

    @lru_cache(maxsize=16)
    def _group_features(self, group: int) -> np.ndarray:
        """Features of image group ``group`` (0: shared images; s: subject s's training images)."""
        n = self.spec.shared if group == 0 else self.spec.train_images
        rng = np.random.default_rng([self.seed, 0x75D, group])
        n_concepts = max(1, n // 3)
        means = stimuli.concept_means(n_concepts, rng)
        return stimuli.image_features(means, np.arange(n) % n_concepts, rng)

    def features(self, index: np.ndarray) -> np.ndarray:
        """(len(index), 16) features of the images with these 0-based indices."""
        index = np.asarray(index)
        out = np.empty((len(index), stimuli.N_FEATURES))
        shared = index < self.spec.shared
        out[shared] = self._group_features(0)[index[shared]]
        for k in np.flatnonzero(~shared):
            g, j = divmod(int(index[k]) - self.spec.shared, self.spec.train_images)
            out[k] = self._group_features(g + 1)[j]
        return out

    def shared_withheld(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 0x3A1])
        return np.sort(rng.choice(self.spec.shared, self.spec.shared_withheld, replace=False))

    @property
    def n_positions(self) -> int:
        """Voxel positions of the shared "cortex" (the largest subject's count); subjects use subsets."""
        return max(n_voxels(self.spec, s) for s in PUBLISHED_VOXELS)

    @cached_property
    def model(self) -> ForwardModel:
        """One forward model over every voxel position (subjects differ in mixing, gain and voxel subset)."""
        rng = np.random.default_rng([self.seed, 0xF0])
        pts = rng.standard_normal((self.n_positions, 3))
        pts /= np.linalg.norm(pts, axis=1, keepdims=True)
        pts[:, 1] = -np.abs(pts[:, 1]) - 0.2              # posterior half (occipito-temporal cortex)
        pts /= np.linalg.norm(pts, axis=1, keepdims=True)
        return ForwardModel(pts, stimuli.FEATURE_GROUPS, self.seed, alpha_power=0.0, local_fraction=0.5)

    def voxels(self, subject: int) -> np.ndarray:
        """Sorted position indices of ``subject``'s voxels."""
        rng = np.random.default_rng([self.seed, 0xF2, int(subject)])
        return np.sort(rng.permutation(self.n_positions)[: n_voxels(self.spec, subject)])

    @cached_property
    def stage(self) -> np.ndarray:
        """Per voxel position, which of FMRI_TIMES it reflects: the most posterior quarter of the
        positions the 0.1 s (low-level) response, the most anterior quarter the 0.45 s (concept) one."""
        y = self.model.positions[:, 1]                     # more negative = more posterior
        return np.searchsorted(np.quantile(y, [0.25, 0.5, 0.75]), y)

    def _raw_patterns(self, features: np.ndarray, subject: int) -> np.ndarray:
        evoked = self.model.evoked(features, subject, FMRI_TIMES)          # (n, positions, stages)
        return np.take_along_axis(evoked, self.stage[None, :, None], axis=2)[..., 0]

    @cached_property
    def _scale(self) -> float:
        ref = np.random.default_rng([self.seed, 0xF1]).standard_normal((256, stimuli.N_FEATURES))
        pattern = self._raw_patterns(ref, 1)
        return float(1.0 / np.sqrt(np.mean(pattern ** 2)))

    def patterns(self, subject: int, index: np.ndarray) -> np.ndarray:
        """(len(index), voxels) noise-free response patterns (unit power on average, gain 1)."""
        return self._raw_patterns(self.features(index), subject)[:, self.voxels(subject)] * self._scale

    def schedule(self, subject: int) -> tuple[np.ndarray, int]:
        """0-based image index per trial in presentation order, and how many leading trials have betas."""
        spec = self.spec
        withheld = self.shared_withheld()
        shown = np.setdiff1d(np.arange(spec.shared), withheld)
        visible = np.concatenate([np.repeat(shown, spec.shared_reps),
                                  np.repeat(self.train_index(subject), spec.train_reps)])
        visible = np.random.default_rng([self.seed, int(subject), 0x0DE]).permutation(visible)
        n_visible = int(np.ceil(len(visible) / spec.trials_per_session)) * spec.trials_per_session
        # pad the last visible session with extra presentations of training images (NSD's sessions are full)
        pad = n_visible - len(visible)
        if pad:
            extra = np.random.default_rng([self.seed, int(subject), 0xAD]).choice(self.train_index(subject), pad)
            visible = np.concatenate([visible, extra])
        last = np.random.default_rng([self.seed, int(subject), 0x1A5]).permutation(
            np.repeat(withheld, spec.shared_reps)) if len(withheld) else np.zeros(0, np.int64)
        return np.concatenate([visible, last]).astype(np.int64), n_visible

    def betas(self, subject: int, snr: float, images: np.ndarray) -> np.ndarray:
        """float32 (trials, voxels) for the image index per trial ``images``."""
        model = self.model
        keep = self.voxels(subject)
        uniq, inverse = np.unique(images, return_inverse=True)
        pattern = self.patterns(subject, uniq) * (np.sqrt(snr) * model.subject(subject).gain)
        out = np.empty((len(images), len(keep)), dtype=np.float32)
        for b0 in range(0, len(images), TRIAL_BLOCK):
            b1 = min(len(images), b0 + TRIAL_BLOCK)
            rng = np.random.default_rng([self.seed, int(subject), b0 // TRIAL_BLOCK])
            noise = model.noise(b1 - b0, subject, np.zeros(1), rng)[:, keep, 0]
            out[b0:b1] = pattern[inverse[b0:b1]] + noise
        return out

    def responses(self, subject: int, images: np.ndarray):
        """The NSD-style behaviour table of the schedule ``images`` (pandas DataFrame)."""
        import pandas as pd

        spec = self.spec
        n = len(images)
        rng = np.random.default_rng([self.seed, int(subject), 0xBE4])
        per_run = max(1, spec.trials_per_session // 12)
        t = np.arange(n)
        session = t // spec.trials_per_session + 1
        within = t % spec.trials_per_session
        own = np.concatenate([np.arange(spec.shared), self.train_index(subject)])
        ten_k = {int(i): k + 1 for k, i in enumerate(own)}
        seen: set[int] = set()
        is_old = np.zeros(n, dtype=np.int64)
        for k, i in enumerate(images):
            is_old[k] = int(int(i) in seen)
            seen.add(int(i))
        correct = (rng.random(n) < 0.8).astype(np.int64)
        return pd.DataFrame({
            "SUBJECT": int(subject), "SESSION": session, "RUN": within // per_run + 1, "TRIAL": within % per_run + 1,
            "73KID": images + 1, "10KID": [ten_k[int(i)] for i in images], "ISOLD": is_old, "ISCORRECT": correct,
            "RT": np.round(rng.uniform(600, 1500, n), 1), "BUTTON": np.where(is_old == correct, 1, 2),
            "MISSINGDATA": 0,
        })


def _write_images(sim: NSDSimulation, path: Path, n_images: int, progress: bool) -> None:
    import h5py
    from tqdm import tqdm

    size = sim.spec.image_size
    with h5py.File(path, "w") as fh:
        dset = fh.create_dataset("images", shape=(n_images, 3, size, size), dtype=np.float16)
        step = 64
        for i0 in tqdm(range(0, n_images, step), desc="images", disable=not progress, leave=False):
            idx = np.arange(i0, min(n_images, i0 + step))
            feats = sim.features(idx)
            block = np.stack([stimuli.render(f, size) for f in feats]).astype(np.float32) / 255.0
            dset[i0:i0 + len(idx)] = np.transpose(block, (0, 3, 1, 2)).astype(np.float16)


@SIMULATORS.register("nsd", aliases=("nsd-fmri",))
def write_nsd(out: Path, *, size: str | NSDSize = "tiny", subjects: int = 2, seed: int = 0, snr: float = DEFAULT_SNR,
              variant: str | None = "default", progress: bool = False, overwrite: bool = False) -> Path:
    """Write a simulated NSD (subjects 1..``subjects``, at most 8) under ``out``; returns ``out``.

    size: ``"micro"``, ``"tiny"`` or ``"small"`` (``"full"`` is refused) or an :class:`NSDSize`.
    snr: single-trial pattern/noise power ratio. overwrite: allow a non-empty ``out``.
    """
    import h5py

    out = Path(out)
    if (variant or "default").lower() != "default":
        raise ConfigError(f"unknown NSD variant '{variant}'", field="variant", fix="use 'default'")
    if not 1 <= int(subjects) <= len(PUBLISHED_VOXELS):
        raise ConfigError(f"subjects must be in 1..{len(PUBLISHED_VOXELS)} (NSD has 8), got {subjects}",
                          field="subjects", fix="use 1 to 8 subjects")
    if not float(snr) > 0:
        raise ConfigError(f"snr must be > 0, got {snr}", field="snr", fix="use a positive power ratio, e.g. 0.3")
    spec = resolve_size(size)
    if max(n_voxels(spec, s) for s in PUBLISHED_VOXELS) > MAX_VOXELS:
        raise ConfigError(f"the '{size}' NSD size has too many voxels to simulate (> {MAX_VOXELS}): the forward "
                          "model's spatial noise kernel is voxels x voxels", field="size",
                          fix="use size 'tiny' or 'small'")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError("output folder is not empty", where=out,
                        fix="choose a new folder, delete this one, or pass overwrite=True (--force)")
    sim = NSDSimulation(spec, seed)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    n_images = sim.n_images(subjects)
    stim_name = STIMULUS_FILES[0][0]
    _write_images(sim, out / stim_name, n_images, progress)
    mask = np.zeros(n_images, dtype=bool)
    mask[: spec.shared] = True
    np.save(out / SHARED_FILE, mask)
    shapes = {}
    for subject in range(1, int(subjects) + 1):
        images, n_visible = sim.schedule(subject)
        table = sim.responses(subject, images)
        path = out / RESPONSES_TEMPLATE.format(subject=subject)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, sep="\t", index=False)
        betas = sim.betas(subject, float(snr), images[:n_visible])
        with h5py.File(out / BETAS_TEMPLATE.format(subject=subject), "w") as fh:
            fh.create_dataset(BETAS_KEY, data=betas)
        shapes[subject] = list(betas.shape)
    write_simulation_info(out, {
        "dataset": "nsd", "variant": "default", "size": size if isinstance(size, str) else "custom",
        "size_spec": asdict(spec), "subjects": int(subjects), "seed": int(seed), "snr": float(snr),
        "n_images": n_images, "betas_shapes": shapes, "dtype": "float32", "simulator_version": HARNESS_VERSION,
        "seconds": round(time.time() - started, 2),
    })
    return out


__all__ = ["SIZES", "NSDSize", "DEFAULT_SNR", "NSDSimulation", "write_nsd", "n_voxels", "PUBLISHED_VOXELS"]
