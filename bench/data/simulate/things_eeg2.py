"""Simulated THINGS-EEG2 in its exact published layout (both variants), from the forward model.

What is written (see ``bench/data/things_eeg2.py`` for the layout the loader reads)::

    <out>/Preprocessed_data_250Hz/sub-XX/preprocessed_eeg_{training,test}.npy   variant "250hz":
        pickle.dump(protocol=4) of {"preprocessed_eeg_data": float64 (images, reps, 63, 250),
                                    "ch_names": [63 names], "times": float64[300] (-0.2..0.996 s)}
    <out>/preprocessed_data/sub-XX/preprocessed_eeg_{training,test}.npy          variant "100hz":
        np.save of {"preprocessed_eeg_data": float64 (images, reps, 17, 100), "ch_names": [17],
                    "times": float64[100] (-0.2..0.79 s)}
    <out>/training_images/NNNNN_<concept>/<concept>_XXb.jpg, <out>/test_images/NNNNN_<concept>/<concept>_01s.jpg
    <out>/image_metadata.npy   np.save of {train_img_concepts, train_img_files, test_img_concepts, test_img_files}
    <out>/object_images/<concept>/<concept>_01s.jpg, <concept>_NNn.jpg
        the THINGS images database layout, for the test concepts only: the test image itself (same
        file name as in test_images/) plus ``SizeSpec.object_images_per_concept`` other images of the
        concept (features drawn around the concept's mean with an RNG of its own, so nothing else
        changes). NICE's concept-centre gallery averages the other images (bench/data/things_eeg2.py).
    <out>/simulation.json      how it was made (size, seed, snr, variant, shapes)

**Streaming.** EEG files are written block by block (32 images at a time) by
:func:`bench.data.simulate.dump_pickle_streamed`, which emits exactly the bytes ``pickle.dump`` /
``np.save`` would produce for the whole array (tested byte for byte) while holding one block in
memory: the full size (8.3 GB float64 per training file) needs ~50 MB. Each file is written under
a ``.partial`` name and renamed when complete.

**Determinism.** Everything derives from ``seed``: concept names and features from
``(seed, "stimuli")``, the forward model from ``seed``, the noise of image block ``b`` of subject
``s``'s part ``p`` from ``(seed, s, p, b)``, so output never depends on chunking or on which
subjects are written.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np

from bench import HARNESS_VERSION
from bench.data.simulate import SIMULATORS, StreamedArray, dump_pickle_streamed, save_npy_object_streamed, \
    write_simulation_info
from bench.data.simulate import stimuli
from bench.data.simulate.forward_model import ForwardModel
from bench.data.things_eeg2 import CH_NAMES_63, DATA_KEY, CH_KEY, TIMES_KEY, FILE_NAMES, IMAGE_FOLDERS, \
    LAYOUTS, METADATA_FILE, METADATA_KEYS, OBJECT_IMAGES, Layout
from bench.errors import ConfigError, DataError

DEFAULT_SNR = 0.02
"""Single-trial evoked/noise power ratio. Decoding from 4-repetition averages is well above chance
but far from perfect, and 80-repetition test averages are much cleaner (as in the real data)."""

BLOCK = 32
"""Images per noise block (the unit of randomness; independent of how files are chunked)."""


@dataclass(frozen=True)
class SizeSpec:
    """How big a simulated THINGS-EEG2 is (per subject) and how large its images are."""

    train_concepts: int
    images_per_concept: int
    test_concepts: int
    train_reps: int
    test_reps: int
    image_size: int
    object_images_per_concept: int = 4
    """Other THINGS images written per test concept under ``object_images/`` (real THINGS: >= 11)."""

    @property
    def n_train(self) -> int:
        return self.train_concepts * self.images_per_concept

    def shape(self, part: str, layout: Layout) -> tuple[int, int, int, int]:
        n, reps = (self.n_train, self.train_reps) if part == "train" else (self.test_concepts, self.test_reps)
        return (n, reps, len(layout.ch_names), layout.n_times)


SIZES: dict[str, SizeSpec] = {
    # a handful of images: end-to-end tests of submissions whose image models are slow on a CPU
    "micro": SizeSpec(train_concepts=16, images_per_concept=2, test_concepts=10, train_reps=2, test_reps=4,
                      image_size=64, object_images_per_concept=2),
    # seconds: for tests and first runs (~330 MB float64 per subject at 250 Hz)
    "tiny": SizeSpec(train_concepts=100, images_per_concept=4, test_concepts=50, train_reps=4, test_reps=20,
                     image_size=64),
    # a realistic benchmark: every training concept, 2 images each; 200 test images x 20 repetitions
    "small": SizeSpec(train_concepts=1654, images_per_concept=2, test_concepts=200, train_reps=4, test_reps=20,
                      image_size=224),
    # the published shapes: (16540, 4, 63, 250) and (200, 80, 63, 250), 500 x 500 images
    "full": SizeSpec(train_concepts=1654, images_per_concept=10, test_concepts=200, train_reps=4, test_reps=80,
                     image_size=500, object_images_per_concept=11),
}

# Unit-sphere positions (x right, y front, z up) of the 63 channels: the standard 10-05 template
# (MNE's standard_1005) re-centred on its best-fitting sphere. Fixed here so that simulations do not
# depend on the installed MNE version.
POSITIONS_63: dict[str, tuple[float, float, float]] = {
    "Fp1": (-0.289, +0.954, -0.086), "Fp2": (+0.274, +0.958, -0.086), "AF7": (-0.544, +0.830, -0.123),
    "AF3": (-0.342, +0.920, +0.190), "AFz": (-0.007, +0.946, +0.325), "AF4": (+0.340, +0.920, +0.195),
    "AF8": (+0.533, +0.837, -0.124), "F7": (-0.763, +0.631, -0.144), "F5": (-0.703, +0.693, +0.160),
    "F3": (-0.537, +0.730, +0.422), "F1": (-0.290, +0.749, +0.596), "F2": (+0.292, +0.755, +0.587),
    "F4": (+0.534, +0.741, +0.407), "F6": (+0.703, +0.695, +0.151), "F8": (+0.756, +0.638, -0.147),
    "FT9": (-0.813, +0.296, -0.501), "FT7": (-0.926, +0.346, -0.149), "FC5": (-0.883, +0.396, +0.254),
    "FC3": (-0.678, +0.434, +0.594), "FC1": (-0.367, +0.445, +0.817), "FCz": (-0.006, +0.451, +0.892),
    "FC2": (+0.359, +0.455, +0.815), "FC4": (+0.676, +0.442, +0.590), "FC6": (+0.879, +0.406, +0.251),
    "FT8": (+0.920, +0.362, -0.152), "FT10": (+0.807, +0.299, -0.510), "T7": (-0.991, +0.005, -0.132),
    "C5": (-0.948, +0.031, +0.317), "C3": (-0.727, +0.052, +0.684), "C1": (-0.388, +0.067, +0.919),
    "Cz": (-0.005, +0.074, +0.997), "C2": (+0.390, +0.072, +0.918), "C4": (+0.731, +0.061, +0.680),
    "C6": (+0.949, +0.042, +0.313), "T8": (+0.991, +0.016, -0.135), "TP9": (-0.838, -0.291, -0.462),
    "TP7": (-0.941, -0.325, -0.099), "CP5": (-0.888, -0.332, +0.319), "CP3": (-0.674, -0.320, +0.665),
    "CP1": (-0.360, -0.305, +0.882), "CPz": (-0.005, -0.302, +0.953), "CP2": (+0.371, -0.303, +0.878),
    "CP4": (+0.682, -0.314, +0.660), "CP6": (+0.893, -0.322, +0.316), "TP8": (+0.941, -0.324, -0.102),
    "TP10": (+0.832, -0.299, -0.467), "P7": (-0.789, -0.613, -0.048), "P5": (-0.722, -0.634, +0.279),
    "P3": (-0.547, -0.633, +0.547), "P1": (-0.290, -0.629, +0.721), "Pz": (-0.006, -0.626, +0.780),
    "P2": (+0.300, -0.621, +0.724), "P4": (+0.552, -0.627, +0.550), "P6": (+0.718, -0.638, +0.280),
    "P8": (+0.785, -0.617, -0.050), "PO7": (-0.567, -0.824, +0.008), "PO3": (-0.379, -0.854, +0.356),
    "POz": (-0.007, -0.870, +0.493), "PO4": (+0.366, -0.862, +0.351), "PO8": (+0.559, -0.829, +0.007),
    "O1": (-0.301, -0.951, +0.068), "Oz": (-0.008, -0.992, +0.127), "O2": (+0.288, -0.955, +0.068),
}

_PARTS = {"train": 0, "test": 1}


def resolve_size(size: str | SizeSpec) -> SizeSpec:
    """A :class:`SizeSpec` from a preset name (``tiny``, ``small``, ``full``) or a spec."""
    if isinstance(size, SizeSpec):
        return size
    if size not in SIZES:
        raise ConfigError(f"unknown size '{size}'", field="size", fix=f"use one of {list(SIZES)}")
    return SIZES[size]


def resolve_variant(variant: str | None) -> Layout:
    name = (variant or "250hz").lower()
    if name not in LAYOUTS:
        raise ConfigError(f"unknown THINGS-EEG2 variant '{variant}'", field="variant",
                          fix=f"use one of {sorted(LAYOUTS)}")
    return LAYOUTS[name]


class ThingsEEG2Simulation:
    """The simulated study for one ``(size, seed, variant)``: concepts, images, features, brains.

    Usable in memory (tests, decodability checks) without writing anything:
    ``sim.features("train")`` are the image features, ``sim.trials(subject, "train", 0, 32, snr)``
    the single trials of the first 32 training images, ``sim.model`` the forward model.
    """

    def __init__(self, size: str | SizeSpec = "tiny", seed: int = 0, variant: str = "250hz") -> None:
        if int(seed) < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}", field="seed", fix="use a non-negative integer")
        self.spec = resolve_size(size)
        self.size_name = size if isinstance(size, str) else "custom"
        self.seed = int(seed)
        self.layout = resolve_variant(variant)

    # -- stimuli --------------------------------------------------------------------------------

    @cached_property
    def _stimuli(self) -> dict[str, object]:
        rng = np.random.default_rng([self.seed, 0x571])
        spec = self.spec
        train_names = stimuli.concept_names(spec.train_concepts, rng)
        test_names = stimuli.concept_names(spec.test_concepts, rng, exclude=set(train_names))
        train_means = stimuli.concept_means(spec.train_concepts, rng)
        test_means = stimuli.concept_means(spec.test_concepts, rng)
        train_concept = np.repeat(np.arange(spec.train_concepts), spec.images_per_concept)
        test_concept = np.arange(spec.test_concepts)
        return {
            "train_names": train_names, "test_names": test_names,
            "train_concept": train_concept, "test_concept": test_concept, "test_means": test_means,
            "train_features": stimuli.image_features(train_means, train_concept, rng),
            "test_features": stimuli.image_features(test_means, test_concept, rng),
        }

    def concepts(self, part: str) -> np.ndarray:
        """0-based concept index of each image (row) of ``part``."""
        return self._stimuli[f"{part}_concept"]  # type: ignore[return-value]

    def features(self, part: str) -> np.ndarray:
        """(images, 16) latent features of ``part`` in row order (see ``stimuli.FEATURE_NAMES``)."""
        return self._stimuli[f"{part}_features"]  # type: ignore[return-value]

    def image_files(self, part: str) -> list[tuple[str, str]]:
        """(concept folder, file name) per row of ``part``, in the published naming."""
        names: list[str] = self._stimuli[f"{part}_names"]  # type: ignore[assignment]
        out = []
        if part == "train":
            for c, name in enumerate(names):
                for k in range(self.spec.images_per_concept):
                    out.append((f"{c + 1:05d}_{name}", f"{name}_{k + 1:02d}b.jpg"))
        else:
            for c, name in enumerate(names):
                out.append((f"{c + 1:05d}_{name}", f"{name}_01s.jpg"))
        return out

    def object_images(self) -> list[tuple[str, str, np.ndarray]]:
        """(concept, file name, features) of every image written under ``object_images/``: per test
        concept, its test image (same file name and features) then the other images, drawn around the
        concept's mean with the RNG ``(seed, 0x0B7)`` (so the rest of the simulation is unchanged)."""
        names: list[str] = self._stimuli["test_names"]  # type: ignore[assignment]
        n_other = self.spec.object_images_per_concept
        rng = np.random.default_rng([self.seed, 0x0B7])
        concept_of = np.repeat(np.arange(len(names)), n_other)
        other = stimuli.image_features(self._stimuli["test_means"], concept_of, rng)  # type: ignore[arg-type]
        out = []
        for c, (name, (_, test_file)) in enumerate(zip(names, self.image_files("test"))):
            out.append((name, test_file, self.features("test")[c]))
            for k in range(n_other):
                out.append((name, f"{name}_{k + 2:02d}n.jpg", other[c * n_other + k]))
        return out

    # -- brains ---------------------------------------------------------------------------------

    @cached_property
    def model(self) -> ForwardModel:
        positions = np.array([POSITIONS_63[c] for c in CH_NAMES_63])
        pick = [CH_NAMES_63.index(c) for c in self.layout.ch_names]
        return ForwardModel(positions, stimuli.FEATURE_GROUPS, self.seed, pick=pick)

    @property
    def times(self) -> np.ndarray:
        """Sample times of the data (not of the stored ``times`` key)."""
        lay = self.layout
        return np.arange(lay.data_start, lay.stored_times[1]) / lay.sfreq

    @property
    def stored_times(self) -> np.ndarray:
        lay = self.layout
        return np.arange(*lay.stored_times) / lay.sfreq

    def reps(self, part: str) -> int:
        return self.spec.train_reps if part == "train" else self.spec.test_reps

    def trials(self, subject: int, part: str, start: int, stop: int, snr: float,
               out: np.ndarray | None = None) -> np.ndarray:
        """float64 (stop-start, reps, channels, times) trials of images ``start:stop``.

        ``start`` must be a multiple of :data:`BLOCK` (the unit of randomness). ``out``: optional
        float64 buffer with room for the result (its leading rows are used and returned).
        """
        if start % BLOCK:
            raise ValueError(f"start must be a multiple of {BLOCK}")
        feats = self.features(part)
        stop = min(stop, len(feats))
        shape = (stop - start, self.reps(part), self.model.n_channels, len(self.times))
        out = np.empty(shape, dtype=np.float64) if out is None else out[: stop - start]
        for b0 in range(start, stop, BLOCK):
            b1 = min(stop, b0 + BLOCK)
            rng = np.random.default_rng([self.seed, int(subject), _PARTS[part], b0 // BLOCK])
            self.model.trials(feats[b0:b1], subject, self.times, self.reps(part), snr, rng,
                              sfreq=self.layout.sfreq, out=out[b0 - start:b1 - start])
        return out

    def blocks(self, subject: int, part: str, snr: float, block_images: int = BLOCK,
               progress=None) -> Iterator[np.ndarray]:
        """The whole part of one subject, ``block_images`` images at a time (a multiple of BLOCK).

        The yielded arrays share one buffer: consume (or copy) each before asking for the next.
        """
        n = len(self.features(part))
        buf = np.empty((min(block_images, n), self.reps(part), self.model.n_channels, len(self.times)))
        for i0 in range(0, n, block_images):
            block = self.trials(subject, part, i0, i0 + block_images, snr, out=buf)
            if progress is not None:
                progress.update(block.nbytes)
            yield block


def _image_job(args: tuple[str, np.ndarray, int]) -> None:
    path, feats, size = args
    stimuli.write_jpeg(stimuli.render(feats, size), Path(path))


def _write_images(sim: ThingsEEG2Simulation, out: Path, progress: bool, workers: int | None) -> None:
    from tqdm import tqdm

    jobs = []
    for part in ("train", "test"):
        feats = sim.features(part)
        for (folder, name), f in zip(sim.image_files(part), feats):
            d = out / IMAGE_FOLDERS[part] / folder
            d.mkdir(parents=True, exist_ok=True)
            jobs.append((str(d / name), f, sim.spec.image_size))
    for concept, name, f in sim.object_images():
        d = out / OBJECT_IMAGES / concept
        d.mkdir(parents=True, exist_ok=True)
        jobs.append((str(d / name), f, sim.spec.image_size))
    pixels = len(jobs) * sim.spec.image_size ** 2
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if pixels > 5e7 else 1
    bar = tqdm(total=len(jobs), desc="images", unit="img", disable=not progress, leave=False)
    if workers <= 1:
        for job in jobs:
            _image_job(job)
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_image_job, jobs, chunksize=64):
                bar.update()
    bar.close()


def _write_metadata(sim: ThingsEEG2Simulation, out: Path) -> None:
    meta = {}
    for part in ("train", "test"):
        key_c, key_f = METADATA_KEYS[part]
        files = sim.image_files(part)
        meta[key_c] = [c for c, _ in files]
        meta[key_f] = [f for _, f in files]
    np.save(out / METADATA_FILE, meta, allow_pickle=True)


def _write_eeg(sim: ThingsEEG2Simulation, path: Path, subject: int, part: str, snr: float, bar) -> None:
    shape = sim.spec.shape(part, sim.layout)
    row_bytes = int(np.prod(shape[1:])) * 8
    block_images = BLOCK * max(1, (16 << 20) // (row_bytes * BLOCK))  # ~16 MB float64 per block
    data = StreamedArray(shape, np.float64, lambda: sim.blocks(subject, part, snr, block_images, bar))
    content = {DATA_KEY: data, CH_KEY: list(sim.layout.ch_names), TIMES_KEY: sim.stored_times}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as fh:
        if sim.layout.container == "pickle":
            dump_pickle_streamed(content, fh, protocol=4)
        else:
            save_npy_object_streamed(content, fh)
    partial.replace(path)


@SIMULATORS.register("things-eeg2", aliases=("things_eeg2",))
def write_things_eeg2(out: Path, *, size: str | SizeSpec = "tiny", subjects: int = 2, seed: int = 0,
                      snr: float = DEFAULT_SNR, variant: str | None = "250hz", progress: bool = False,
                      overwrite: bool = False, workers: int | None = None) -> Path:
    """Write a simulated THINGS-EEG2 (subjects 1..``subjects``) in the ``variant`` layout under ``out``.

    size: ``"tiny"``, ``"small"``, ``"full"`` (see :data:`SIZES`) or a :class:`SizeSpec`.
    snr: single-trial evoked/noise power ratio (see ``forward_model``). ``progress``: tqdm bars.
    overwrite: allow writing into a non-empty ``out`` (files of the same name are replaced).
    workers: processes rendering images (default: several only for large image sets).
    Returns ``out``.
    """
    out = Path(out)
    if int(subjects) < 1:
        raise ConfigError(f"subjects must be >= 1, got {subjects}", field="subjects", fix="use 1 or more")
    if not float(snr) > 0:
        raise ConfigError(f"snr must be > 0, got {snr}", field="snr", fix="use a positive power ratio, e.g. 0.05")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError("output folder is not empty", where=out,
                        fix="choose a new folder, delete this one, or pass overwrite=True (--force)")
    sim = ThingsEEG2Simulation(size, seed, variant or "250hz")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _write_images(sim, out, progress, workers)
    _write_metadata(sim, out)
    from tqdm import tqdm

    total = sum(int(np.prod(sim.spec.shape(p, sim.layout))) * 8 for p in ("train", "test")) * int(subjects)
    with tqdm(total=total, desc="eeg", unit="B", unit_scale=True, unit_divisor=1024, disable=not progress,
              leave=False) as bar:
        for subject in range(1, int(subjects) + 1):
            for part in ("train", "test"):
                path = out / sim.layout.folder / f"sub-{subject:02d}" / FILE_NAMES[part]
                _write_eeg(sim, path, subject, part, float(snr), bar)
    write_simulation_info(out, {
        "dataset": "things-eeg2", "variant": sim.layout.variant, "size": sim.size_name,
        "size_spec": asdict(sim.spec), "subjects": int(subjects), "seed": int(seed), "snr": float(snr),
        "shapes": {p: list(sim.spec.shape(p, sim.layout)) for p in ("train", "test")},
        "dtype": "float64", "simulator_version": HARNESS_VERSION, "seconds": round(time.time() - started, 2),
    })
    return out


__all__ = ["SIZES", "SizeSpec", "DEFAULT_SNR", "ThingsEEG2Simulation", "write_things_eeg2", "resolve_size"]
