"""Simulated THINGS-MEG in the layout ``bench/data/things_meg.py`` reads, written with MNE.

What is written::

    <out>/preprocessed_P{n}-epo.fif           real MNE epochs (Epochs.save, float32): 271 'mag' channels,
                                              200 Hz, -0.1..1.3 s (281 samples), one epoch per trial in a
                                              shuffled session/run order; events[:, 2] = image number,
                                              999999 for catch trials; metadata = a sample_attributes
                                              table (trial_type, image_nr, category_nr, exemplar_nr,
                                              test_image_nr, things_category_nr, things_image_nr,
                                              things_exemplar_nr, image_path, onset, session_nr, run_nr)
    <out>/images_meg/<concept>/<concept>_XXb.jpg     exp images (every concept, test concepts too)
    <out>/images_test_meg/<concept>_XXs.jpg          one test image per test concept
    <out>/simulation.json

As in the real study, the test concepts also have exp images (the loader must drop those trials),
catch trials are interleaved (their image files are not written: nothing reads them), and every
participant sees the same images in a different order.

**Signals** come from the shared forward model (``forward_model.py``) with 271 sensor positions
on a helmet-shaped cap (deterministic, CTF-like names ``MLO11-1609``): features -> ERP-like
sources -> subject-specific mixing -> 1/f + alpha noise, independent per trial; ``snr`` is the
single-trial evoked/noise power ratio. The randomness of image block ``b`` (32 images) of
participant ``s``'s part ``p`` comes from ``(seed, s, p, b)``.

**Sizes.** MNE builds an epochs file from one in-memory float64 array, so the simulator supports
``micro`` (39 trials), ``tiny`` (~200 MB per participant, seconds) and ``small`` (the 200 x 12 test
set, ~1.3 GB per file, ~3 GB of memory while writing); the published size (27,048 trials, 8 GB per
file) is refused.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench import HARNESS_VERSION
from bench.data.simulate import SIMULATORS, stimuli, write_simulation_info
from bench.data.simulate.forward_model import ForwardModel
from bench.data.things_meg import CATCH_EVENT, FILE_TEMPLATE
from bench.errors import ConfigError, DataError

DEFAULT_SNR = 0.1
"""Single-trial evoked/noise power ratio (exp images are seen once; the 12-repetition test
averages are 12 times cleaner)."""

SFREQ = 200.0
TMIN_SAMPLE, TMAX_SAMPLE = -20, 260        # -0.1 .. 1.3 s inclusive: 281 samples
N_CHANNELS = 271
SERIAL = "1609"                             # the CTF system suffix of THINGS-MEG channel names
BLOCK = 32
_PARTS = {"exp": 0, "test": 1, "catch": 2}


@dataclass(frozen=True)
class MEGSize:
    """How big a simulated THINGS-MEG participant is."""

    concepts: int              # THINGS concepts with exp images (test concepts included)
    images_per_concept: int    # exp images per concept, each shown once
    test_concepts: int         # concepts that also have one test image
    test_reps: int             # presentations of each test image
    catch_trials: int
    image_size: int
    sessions: int
    runs_per_session: int

    @property
    def n_trials(self) -> int:
        return self.concepts * self.images_per_concept + self.test_concepts * self.test_reps + self.catch_trials


SIZES: dict[str, MEGSize] = {
    # a handful of trials: loader tests and end-to-end tests of slow image models (~2 MB per participant)
    "micro": MEGSize(concepts=12, images_per_concept=2, test_concepts=4, test_reps=3, catch_trials=3,
                     image_size=16, sessions=1, runs_per_session=2),
    # seconds: the demo task (~200 MB per participant)
    "tiny": MEGSize(concepts=100, images_per_concept=4, test_concepts=20, test_reps=12, catch_trials=10,
                    image_size=64, sessions=2, runs_per_session=2),
    "small": MEGSize(concepts=1000, images_per_concept=2, test_concepts=200, test_reps=12, catch_trials=100,
                     image_size=128, sessions=4, runs_per_session=5),
    "full": MEGSize(concepts=1854, images_per_concept=12, test_concepts=200, test_reps=12, catch_trials=2400,
                    image_size=500, sessions=12, runs_per_session=10),
}
MAX_IN_MEMORY_BYTES = 6 << 30


def resolve_size(size: str | MEGSize) -> MEGSize:
    if isinstance(size, MEGSize):
        return size
    if size not in SIZES:
        raise ConfigError(f"unknown size '{size}'", field="size", fix=f"use one of {list(SIZES)}")
    return SIZES[size]


def sensor_layout(n: int = N_CHANNELS) -> tuple[list[str], np.ndarray]:
    """``n`` CTF-like channel names and unit-sphere positions (x right, y front, z up) on a helmet cap.

    Positions: the ``n`` highest points of a Fibonacci sphere of ``ceil(n / 0.65)`` points (a cap
    down to z ~ -0.3). Names ``M{L,R,Z}{F,C,T,P,O}NN-1609`` from the side and region of each point.
    """
    total = int(np.ceil(n / 0.65))
    i = np.arange(n)
    z = 1 - (2 * i + 1) / total
    r = np.sqrt(1 - z ** 2)
    phi = i * np.pi * (3 - np.sqrt(5))
    pos = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    names, counters = [], {}
    for x, y, zz in pos:
        side = "L" if x < -0.15 else "R" if x > 0.15 else "Z"
        if y > 0.45:
            region = "F"
        elif y < -0.55:
            region = "O"
        elif zz < 0.35 and abs(x) > 0.6:
            region = "T"
        elif y < -0.1:
            region = "P"
        else:
            region = "C"
        k = counters[(side, region)] = counters.get((side, region), 10) + 1
        names.append(f"M{side}{region}{k:02d}-{SERIAL}")
    return names, pos


class ThingsMEGSimulation:
    """The simulated study for one ``(size, seed)``: concepts, images, features, trial lists, brains."""

    def __init__(self, size: str | MEGSize = "tiny", seed: int = 0) -> None:
        if int(seed) < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}", field="seed", fix="use a non-negative integer")
        self.spec = resolve_size(size)
        self.size_name = size if isinstance(size, str) else "custom"
        self.seed = int(seed)
        if self.spec.test_concepts >= self.spec.concepts:
            raise ConfigError("test_concepts must be fewer than concepts", field="size")

    @cached_property
    def stimuli(self) -> dict[str, np.ndarray | list]:
        spec = self.spec
        rng = np.random.default_rng([self.seed, 0x3E6])
        names = stimuli.concept_names(spec.concepts, rng)
        means = stimuli.concept_means(spec.concepts, rng)
        exp_concept = np.repeat(np.arange(spec.concepts), spec.images_per_concept)
        test_concepts = np.sort(rng.choice(spec.concepts, spec.test_concepts, replace=False))
        catch_means = stimuli.concept_means(max(1, spec.catch_trials), rng)
        return {
            "names": names,
            "exp_concept": exp_concept,
            "exp_features": stimuli.image_features(means, exp_concept, rng),
            "test_concept": test_concepts,
            "test_features": stimuli.image_features(means, test_concepts, rng),
            "catch_features": stimuli.image_features(catch_means, np.arange(spec.catch_trials), rng),
        }

    def image_paths(self, part: str) -> list[str]:
        """``image_path`` (relative to the root) of each image of ``part`` ("exp", "test", "catch")."""
        names: list[str] = self.stimuli["names"]  # type: ignore[assignment]
        k = self.spec.images_per_concept
        if part == "exp":
            return [f"images_meg/{names[c]}/{names[c]}_{j + 1:02d}b.jpg" for c in range(self.spec.concepts)
                    for j in range(k)]
        if part == "test":
            return [f"images_test_meg/{names[c]}_{k + 1:02d}s.jpg" for c in self.stimuli["test_concept"]]
        return [f"images_catch_meg/catch_{j + 1:03d}.jpg" for j in range(self.spec.catch_trials)]

    @cached_property
    def positions(self) -> tuple[list[str], np.ndarray]:
        return sensor_layout()

    @cached_property
    def model(self) -> ForwardModel:
        _, pos = self.positions
        return ForwardModel(pos, stimuli.FEATURE_GROUPS, self.seed)

    @property
    def times(self) -> np.ndarray:
        return np.arange(TMIN_SAMPLE, TMAX_SAMPLE + 1) / SFREQ

    def trials(self, subject: int, part: str, snr: float) -> np.ndarray:
        """float64 (images, reps, channels, times) of all images of ``part`` for ``subject``."""
        feats = self.stimuli[f"{part}_features"]
        reps = self.spec.test_reps if part == "test" else 1
        out = np.empty((len(feats), reps, self.model.n_channels, len(self.times)))
        for b0 in range(0, len(feats), BLOCK):
            b1 = min(len(feats), b0 + BLOCK)
            rng = np.random.default_rng([self.seed, int(subject), _PARTS[part], b0 // BLOCK])
            self.model.trials(feats[b0:b1], subject, self.times, reps, snr, rng, sfreq=SFREQ, out=out[b0:b1])
        return out

    def schedule(self, subject: int):
        """The participant's trial list in presentation order: (part, image index) per trial, shuffled."""
        spec = self.spec
        parts = (["exp"] * (spec.concepts * spec.images_per_concept) + ["test"] * (spec.test_concepts * spec.test_reps)
                 + ["catch"] * spec.catch_trials)
        index = (list(range(spec.concepts * spec.images_per_concept))
                 + [i for i in range(spec.test_concepts) for _ in range(spec.test_reps)]
                 + list(range(spec.catch_trials)))
        rep = ([0] * (spec.concepts * spec.images_per_concept)
               + [r for _ in range(spec.test_concepts) for r in range(spec.test_reps)] + [0] * spec.catch_trials)
        order = np.random.default_rng([self.seed, int(subject), 0x0DE]).permutation(len(parts))
        return [parts[i] for i in order], np.asarray(index)[order], np.asarray(rep)[order]

    def metadata(self, subject: int):
        """The sample_attributes-like DataFrame and the event values, in presentation order."""
        import pandas as pd

        spec = self.spec
        parts, index, _ = self.schedule(subject)
        n = len(parts)
        k = spec.images_per_concept
        n_exp = spec.concepts * k
        exp_paths, test_paths, catch_paths = (self.image_paths(p) for p in ("exp", "test", "catch"))
        test_concept = self.stimuli["test_concept"]
        rows = []
        for t, (part, i) in enumerate(zip(parts, index)):
            if part == "exp":
                c, ex = int(i) // k, int(i) % k + 1
                rows.append(("exp", int(i) + 1, c + 1, ex, np.nan, c + 1, int(i) + 1, ex, exp_paths[i]))
            elif part == "test":
                c = int(test_concept[i])
                rows.append(("test", n_exp + int(i) + 1, c + 1, k + 1, int(i) + 1, c + 1, n_exp + int(i) + 1, k + 1,
                             test_paths[i]))
            else:
                rows.append(("catch", np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, catch_paths[i]))
        df = pd.DataFrame(rows, columns=["trial_type", "image_nr", "category_nr", "exemplar_nr", "test_image_nr",
                                         "things_category_nr", "things_image_nr", "things_exemplar_nr", "image_path"])
        per_run = int(np.ceil(n / (spec.sessions * spec.runs_per_session)))
        run_global = np.arange(n) // per_run
        df["onset"] = np.round(np.arange(n) * 1.5 + 10.0, 3)
        df["session_nr"] = run_global // spec.runs_per_session + 1
        df["run_nr"] = run_global % spec.runs_per_session + 1
        values = np.where(df["trial_type"].to_numpy() == "catch", CATCH_EVENT,
                          df["things_image_nr"].fillna(0).to_numpy()).astype(np.int64)
        return df, values

    def epochs(self, subject: int, snr: float):
        """The participant's :class:`mne.EpochsArray` (data in presentation order)."""
        import mne

        parts, index, rep = self.schedule(subject)
        df, values = self.metadata(subject)
        data = np.empty((len(parts), self.model.n_channels, len(self.times)))
        for part in ("exp", "test", "catch"):
            sel = np.flatnonzero(np.asarray(parts) == part)
            if len(sel) == 0:
                continue
            trials = self.trials(subject, part, snr)
            data[sel] = trials[index[sel], rep[sel]]
            del trials
        names, pos = self.positions
        info = mne.create_info(names, SFREQ, "mag")
        with info._unlock():
            for ch, p in zip(info["chs"], pos):
                ch["loc"][:3] = 0.12 * p
                ch["loc"][9:12] = p
        events = np.column_stack([np.arange(len(parts)) * 300 + 2000, np.zeros(len(parts), np.int64), values])
        return mne.EpochsArray(data, info, events=events, tmin=TMIN_SAMPLE / SFREQ, metadata=df, baseline=None,
                               verbose="error")


def _write_images(sim: ThingsMEGSimulation, out: Path, progress: bool) -> None:
    from tqdm import tqdm

    jobs = list(zip(sim.image_paths("exp"), sim.stimuli["exp_features"])) + \
        list(zip(sim.image_paths("test"), sim.stimuli["test_features"]))
    for rel, feats in tqdm(jobs, desc="images", unit="img", disable=not progress, leave=False):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        stimuli.write_jpeg(stimuli.render(feats, sim.spec.image_size), path)


@SIMULATORS.register("things-meg", aliases=("things_meg",))
def write_things_meg(out: Path, *, size: str | MEGSize = "tiny", subjects: int = 2, seed: int = 0,
                     snr: float = DEFAULT_SNR, variant: str | None = "default", progress: bool = False,
                     overwrite: bool = False) -> Path:
    """Write a simulated THINGS-MEG (participants 1..``subjects``) under ``out``; returns ``out``.

    size: ``"micro"``, ``"tiny"`` or ``"small"`` (see :data:`SIZES`; ``"full"`` is refused) or a :class:`MEGSize`.
    snr: single-trial evoked/noise power ratio. overwrite: allow a non-empty ``out``.
    """
    out = Path(out)
    if (variant or "default").lower() != "default":
        raise ConfigError(f"unknown THINGS-MEG variant '{variant}'", field="variant", fix="use 'default'")
    if int(subjects) < 1:
        raise ConfigError(f"subjects must be >= 1, got {subjects}", field="subjects", fix="use 1 or more")
    if not float(snr) > 0:
        raise ConfigError(f"snr must be > 0, got {snr}", field="snr", fix="use a positive power ratio, e.g. 0.1")
    spec = resolve_size(size)
    need = spec.n_trials * N_CHANNELS * (TMAX_SAMPLE - TMIN_SAMPLE + 1) * 8
    if need > MAX_IN_MEMORY_BYTES:
        raise ConfigError(f"a '{size}' THINGS-MEG simulation needs {need / 2**30:.1f} GiB in memory (MNE writes an "
                          "epochs file from one float64 array)", field="size",
                          fix="use size 'tiny' or 'small' (the loader's memory behaviour at full size is the same: "
                              "it reads epochs in chunks)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DataError("output folder is not empty", where=out,
                        fix="choose a new folder, delete this one, or pass overwrite=True (--force)")
    sim = ThingsMEGSimulation(spec, seed)
    sim.size_name = size if isinstance(size, str) else "custom"
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _write_images(sim, out, progress)
    for subject in range(1, int(subjects) + 1):
        epochs = sim.epochs(subject, float(snr))
        epochs.save(out / FILE_TEMPLATE.format(subject=subject), fmt="single", overwrite=True, split_size="2GB",
                    verbose="error")
        del epochs
    write_simulation_info(out, {
        "dataset": "things-meg", "variant": "default", "size": sim.size_name, "size_spec": asdict(spec),
        "subjects": int(subjects), "seed": int(seed), "snr": float(snr), "n_channels": N_CHANNELS, "sfreq": SFREQ,
        "tmin": TMIN_SAMPLE / SFREQ, "tmax": TMAX_SAMPLE / SFREQ, "dtype": "float32",
        "simulator_version": HARNESS_VERSION, "seconds": round(time.time() - started, 2),
    })
    return out


__all__ = ["SIZES", "MEGSize", "DEFAULT_SNR", "ThingsMEGSimulation", "write_things_meg", "sensor_layout"]
