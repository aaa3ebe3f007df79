"""Noise ceilings of retrieval tasks from the test repetitions alone (no model).

**Method** (:func:`subject_ceiling`). For one subject, the test part is read one row per repetition
(``load(subject, "test", repetitions="single")`` with the task's channels and time window); images with
fewer than the common number of repetitions ``R`` are left out (their number is reported). Then:

1. *split-half identification*: the repetitions of every image are split at random into two disjoint
   halves of ``m`` repetitions; each half-average (channels x times flattened) is compared with every
   image's other half-average by Pearson correlation, and identification is correct when the image's
   own other half has the strictly highest correlation (ties count against). Both directions are
   averaged, and the value is averaged over ``n_splits`` seeded random splits;
2. this is done for ``m = 1, 2, 4, ...`` up to ``M = floor(R / 2)`` (the split-half value proper);
3. *correction to the full number of repetitions (Spearman-Brown)*: averaging ``m`` repetitions
   multiplies the signal-to-noise ratio by ``m`` (the Spearman-Brown assumption), so the sensitivity
   of the identification grows as ``d1 sqrt(m)``. ``d1`` is fitted to the whole split-half curve by
   least squares through the equal-variance Gaussian identification model among ``n`` images
   (``P = integral phi(x - d) Phi(x)^(n - 1) dx``, :func:`identification_accuracy`), and the ceiling
   is that model at ``m = R``: identification of one ``R``-repetition average by another independent
   one, i.e. what the data allow at the number of repetitions the task averages. One parameter is
   fitted, so the correction is stable near chance and works with ``M = 1`` (NSD's 3 repetitions).

The ceiling is a *data* ceiling: brain-to-brain identification among the task's gallery of test
images (chance 1 / images). A model scoring above it is possible in principle (image embeddings carry
no measurement noise) and is reported as a fraction above 1, not hidden.

References: split-half reliability with Spearman-Brown-style extrapolation in the number of trials
(Spearman 1910, Brown 1910); m-alternative identification (Green & Swets 1966); noise ceilings of
representational and identification analyses
(Nili et al. 2014 PLoS Comput Biol; Lage-Castellanos et al. 2019 PLoS Comput Biol).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

CEILING_METHOD = ("split-half brain-to-brain identification (top-1 among the test gallery, Pearson r of "
                  "half-averages, both directions, seeded random splits) for m = 1, 2, 4, ... repetitions per "
                  "half, corrected to the full number of repetitions R by Spearman-Brown: sensitivity d1 sqrt(m) "
                  "in an equal-variance Gaussian identification model, d1 fitted to the split-half curve, "
                  "evaluated at m = R")


CEILING_SCHEMA = "brainvis-bench/noise-ceiling"


@dataclass
class SubjectCeiling:
    subject: int
    n_images: int
    n_dropped: int
    repetitions: int
    chance: float
    split_half: float                 # at m = floor(R / 2)
    curve: dict[int, float]           # m -> split-half identification
    ceiling: float                    # corrected to R repetitions
    method: str


@dataclass
class TaskCeiling:
    task: str
    metric: str
    subjects: list[SubjectCeiling] = field(default_factory=list)
    method: str = CEILING_METHOD

    @property
    def mean(self) -> float:
        return float(np.mean([s.ceiling for s in self.subjects])) if self.subjects else float("nan")

    @property
    def chance(self) -> float:
        return float(np.mean([s.chance for s in self.subjects])) if self.subjects else float("nan")

    def of(self, subject: int) -> float | None:
        return next((s.ceiling for s in self.subjects if s.subject == subject), None)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": CEILING_SCHEMA, "task": self.task, "metric": self.metric, "mean": self.mean,
                "chance": self.chance, "method": self.method, "subjects": [asdict(s) for s in self.subjects]}


def identification(a: np.ndarray, b: np.ndarray) -> float:
    """Top-1 identification of rows of ``a`` among rows of ``b`` (Pearson r; ties fail), both directions."""
    def z(x: np.ndarray) -> np.ndarray:
        x = x.reshape(len(x), -1).astype(np.float64)
        x = x - x.mean(axis=1, keepdims=True)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    r = z(a) @ z(b).T
    diag = np.diag(r)
    fwd = (r - diag[:, None] < 0).sum(axis=1) == r.shape[1] - 1          # own column strictly highest in row
    bwd = (r - diag[None, :] < 0).sum(axis=0) == r.shape[0] - 1
    return float((fwd.mean() + bwd.mean()) / 2)


def split_half_curve(trials: np.ndarray, n_splits: int = 20, seed: int = 0,
                     halves: Sequence[int] | None = None) -> dict[int, float]:
    """Split-half identification for ``m`` repetitions per half. trials: (images, R, ...)."""
    n_img, reps = trials.shape[:2]
    top = reps // 2
    if top < 1:
        from bench.errors import DataError

        raise DataError(f"a split-half ceiling needs at least 2 test repetitions per image, the data have {reps}",
                        fix="use a task whose test images were shown at least twice")
    if halves is None:
        halves = sorted({min(2 ** k, top) for k in range(int(np.log2(top)) + 2)})
    rng = np.random.default_rng([int(seed), 0xCE11])
    flat = trials.reshape(n_img, reps, -1)
    out = {}
    for m in halves:
        accs = []
        for _ in range(int(n_splits)):
            perm = np.argsort(rng.random((n_img, reps)), axis=1)
            ia, ib = perm[:, :m], perm[:, m:2 * m]
            rows = np.arange(n_img)[:, None]
            accs.append(identification(flat[rows, ia].mean(axis=1), flat[rows, ib].mean(axis=1)))
        out[int(m)] = float(np.mean(accs))
    return out


def identification_accuracy(d: float | np.ndarray, n: int) -> np.ndarray:
    """Equal-variance Gaussian identification among ``n`` items (n-alternative forced choice):
    ``P = integral phi(x - d) Phi(x)^(n - 1) dx`` (Green & Swets 1966); chance 1/n at d = 0."""
    from scipy.stats import norm

    d = np.atleast_1d(np.asarray(d, dtype=float))
    x = np.linspace(-9.0, 9.0 + float(d.max()), 4001)
    dens = norm.pdf(x[None, :] - d[:, None]) * np.exp((n - 1) * norm.logcdf(x))[None, :]
    return np.trapezoid(dens, x, axis=1)


def fit_sensitivity(curve: dict[int, float], n: int) -> float:
    """Single-repetition sensitivity ``d1`` with ``acc(m) = identification_accuracy(d1 * sqrt(m), n)``,
    least squares over the measured half sizes ``m`` (signal-to-noise grows linearly with repetitions:
    the Spearman-Brown assumption)."""
    from scipy.optimize import minimize_scalar

    ms = np.array(sorted(curve), dtype=float)
    acc = np.array([curve[int(m)] for m in ms])

    def loss(d1: float) -> float:
        return float(((identification_accuracy(d1 * np.sqrt(ms), n) - acc) ** 2).sum())

    return float(minimize_scalar(loss, bounds=(0.0, 20.0), method="bounded", options={"xatol": 1e-5}).x)


def extrapolate(curve: dict[int, float], n: int, target: int) -> float:
    """Identification at ``target`` repetitions per side from the split-half curve (:func:`fit_sensitivity`)."""
    return float(identification_accuracy(fit_sensitivity(curve, n) * np.sqrt(target), n)[0])


def subject_ceiling(trials: np.ndarray, subject: int = 0, n_splits: int = 20, seed: int = 0,
                    n_dropped: int = 0) -> SubjectCeiling:
    """The ceiling of one subject from its test trials (images, R, ...) (module docstring)."""
    n_img, reps = trials.shape[:2]
    chance = 1.0 / n_img
    curve = split_half_curve(trials, n_splits, seed)
    top = max(curve)
    value = extrapolate(curve, n_img, reps)
    method = f"split-half identification at m={sorted(curve)} repetitions per half, corrected to m={reps}"
    return SubjectCeiling(int(subject), int(n_img), int(n_dropped), int(reps), chance, curve[top], curve,
                          float(value), method)


def repetition_trials(dataset: Any, subject: int, channels=None, time_window=None) -> tuple[np.ndarray, int]:
    """(images, R, ...) test trials of a subject and the number of images dropped for having < R repetitions.

    R is the most common repetition count among the test images.
    """
    kw = {}
    if channels is not None:
        kw["channels"] = channels
    if time_window is not None:
        kw["time_window"] = time_window
    data = dataset.load(subject, "test", repetitions="single", **kw)
    ids = np.asarray(data.image_ids)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    values, freq = np.unique(counts, return_counts=True)
    reps = int(values[np.argmax(freq)])
    keep = np.flatnonzero(counts >= reps)
    out = np.empty((len(keep), reps) + data.signals.shape[1:], dtype=np.float32)
    for k, i in enumerate(keep):
        out[k] = data.signals[np.flatnonzero(inverse == i)[:reps]]
    return out, int(len(uniq) - len(keep))


RETRIEVAL_KINDS = ("retrieval", "cross-subject")


def task_ceiling(task: Any, settings: Any, n_splits: int = 20, seed: int = 0,
                 subjects: Iterable[int] | None = None) -> TaskCeiling:
    """Per-subject ceilings of a retrieval task (a resolved :class:`TaskSpec`), from its dataset loader."""
    from bench.data.locate import open_dataset
    from bench.errors import ConfigError

    if task.kind not in RETRIEVAL_KINDS:
        raise ConfigError(f"task '{task.name}' is of kind '{task.kind}'; noise ceilings are defined for retrieval "
                          f"tasks ({', '.join(RETRIEVAL_KINDS)})", field="kind", fix="name a retrieval task")
    ds = open_dataset(task.dataset, settings)
    out = TaskCeiling(task=task.name, metric="top1")
    for s in (subjects or task.dataset.subjects):
        trials, dropped = repetition_trials(ds, int(s), task.dataset.channels, task.dataset.time_window)
        out.subjects.append(subject_ceiling(trials, int(s), n_splits, seed, dropped))
    return out


def fraction_of_ceiling(records: Iterable[Any], ceiling: TaskCeiling, metric: str = "top1") -> dict[str, dict]:
    """Each entry's score as a fraction of the ceiling: per subject (seed mean / subject ceiling) and the
    mean of those fractions; records resolved as everywhere else (:func:`bench.stats.entries.resolve_entries`)."""
    from bench.stats.aggregate import unit_table
    from bench.stats.entries import resolve_entries

    table = unit_table([r for r in resolve_entries(records).records if r.task == ceiling.task], metric)
    out = {}
    for sub, group in table.dropna(subset=["value"]).groupby("submission"):
        per = {}
        for subj, g in group.groupby("subject"):
            c = ceiling.of(int(subj))
            if c is not None and c > 0:
                per[f"sub-{int(subj):02d}"] = float(g["value"].mean() / c)
        out[str(sub)] = {"per_subject": per, "mean": float(np.mean(list(per.values()))) if per else float("nan")}
    return out


__all__ = ["CEILING_METHOD", "CEILING_SCHEMA", "SubjectCeiling", "TaskCeiling", "extrapolate", "fit_sensitivity",
           "fraction_of_ceiling",
           "identification_accuracy",
           "identification", "repetition_trials", "split_half_curve", "subject_ceiling", "task_ceiling"]
