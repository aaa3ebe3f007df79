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
3. *correction to the full number of repetitions, by resampling*: the split-half curve is fitted as
   ``logit((acc - chance) / (1 - chance)) = a + b log m`` (least squares over the ``m`` measured) and
   evaluated at ``m = R``: the identification of one ``R``-repetition average by another independent
   one, i.e. what the data allow at the number of repetitions the task averages. With ``M < 2`` (fewer
   than 4 repetitions, e.g. NSD's 3) there is no curve: the ceiling is the split-half value at ``M``,
   uncorrected, and says so (``method``).

The ceiling is a *data* ceiling: brain-to-brain identification among the task's gallery of test
images (chance 1 / images). A model scoring above it is possible in principle (image embeddings carry
no measurement noise) and is reported as a fraction above 1, not hidden.

References: split-half reliability with Spearman-Brown-style extrapolation in the number of trials
(Spearman 1910, Brown 1910); noise ceilings of representational and identification analyses
(Nili et al. 2014 PLoS Comput Biol; Lage-Castellanos et al. 2019 PLoS Comput Biol).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

CEILING_METHOD = ("split-half brain-to-brain identification (top-1 among the test gallery, Pearson r of "
                  "half-averages, both directions, seeded random splits), corrected to the full number of "
                  "repetitions R by resampling: the split-half curve over m = 1, 2, 4, ... repetitions per "
                  "half is fitted as logit((acc - chance)/(1 - chance)) = a + b log m and evaluated at m = R")


@dataclass
class SubjectCeiling:
    subject: int
    n_images: int
    n_dropped: int
    repetitions: int
    chance: float
    split_half: float                 # at m = floor(R / 2)
    curve: dict[int, float]           # m -> split-half identification
    ceiling: float                    # corrected to R repetitions (or = split_half when uncorrectable)
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
        return {"task": self.task, "metric": self.metric, "mean": self.mean, "chance": self.chance,
                "method": self.method, "subjects": [asdict(s) for s in self.subjects]}


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


def extrapolate(curve: dict[int, float], chance: float, target: int) -> float:
    """The curve's fit ``logit((acc - chance)/(1 - chance)) = a + b log m`` evaluated at ``m = target``."""
    ms = np.array(sorted(curve), dtype=float)
    eps = 1e-3
    p = np.clip((np.array([curve[int(m)] for m in ms]) - chance) / (1 - chance), eps, 1 - eps)
    y = np.log(p / (1 - p))
    b, a = np.polyfit(np.log(ms), y, 1)
    q = 1 / (1 + np.exp(-(a + b * np.log(target))))
    return float(chance + (1 - chance) * q)


def subject_ceiling(trials: np.ndarray, subject: int = 0, n_splits: int = 20, seed: int = 0,
                    n_dropped: int = 0) -> SubjectCeiling:
    """The ceiling of one subject from its test trials (images, R, ...) (module docstring)."""
    n_img, reps = trials.shape[:2]
    chance = 1.0 / n_img
    curve = split_half_curve(trials, n_splits, seed)
    top = max(curve)
    if len(curve) >= 2:
        value, method = extrapolate(curve, chance, reps), f"split-half curve m=1..{top}, extrapolated to m={reps}"
    else:
        value, method = curve[top], f"split-half at m={top}, uncorrected (fewer than 4 repetitions: no curve)"
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


__all__ = ["CEILING_METHOD", "SubjectCeiling", "TaskCeiling", "extrapolate", "fraction_of_ceiling",
           "identification", "repetition_trials", "split_half_curve", "subject_ceiling", "task_ceiling"]
