"""Paired comparison of two submissions on one task and metric (PROTOCOLS.md §5).

Units are matched by (split, seed); subjects by split (seed-averaged). Reported:
- subject-level paired t-test over matched subjects (the AlignVis practice);
- unit-level paired t-test over matched (subject, seed) units;
- Wilcoxon signed-rank over matched subjects;
- Cohen's d_z = mean(diff) / sd(diff) over matched subjects;
- a percentile bootstrap CI of the mean subject-level difference (subjects resampled, seeded).
Units present for only one submission are listed as unmatched and left out, never imputed.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from bench.records.schema import Record
from bench.stats.aggregate import unit_table
from bench.stats.corrections import Correction, correct


@dataclass
class Comparison:
    """Result of ``compare``. Differences are a - b (positive: a scores higher)."""

    task: str
    metric: str
    a: str
    b: str
    n_subjects: int
    n_units: int
    mean_a: float
    mean_b: float
    mean_diff: float
    t_subject: float
    p_subject: float
    t_unit: float
    p_unit: float
    wilcoxon_stat: float
    p_wilcoxon: float
    cohens_dz: float
    ci_low: float
    ci_high: float
    ci_level: float = 0.95
    p_corrected: float | None = None
    correction: str = "none"
    unmatched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _paired_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 2 or np.allclose(x - y, (x - y)[0]):
        return float("nan"), float("nan")
    res = stats.ttest_rel(x, y)
    return float(res.statistic), float(res.pvalue)


def _wilcoxon(diff: np.ndarray) -> tuple[float, float]:
    if len(diff) < 2 or np.all(diff == 0):
        return float("nan"), float("nan")
    res = stats.wilcoxon(diff)
    return float(res.statistic), float(res.pvalue)


def bootstrap_ci(diff: np.ndarray, level: float = 0.95, n_boot: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(diff), resampling its entries with a seeded RNG."""
    if len(diff) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    means = diff[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def matched(records: Iterable[Record], task: str, metric: str, a: str, b: str
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Matched unit-level and subject-level tables (columns a, b) and the unmatched unit labels."""
    table = unit_table([r for r in records if r.task == task and r.submission in (a, b)], metric)
    table = table.dropna(subset=["value"])
    wide = table.pivot_table(index=["split", "seed"], columns="submission", values="value", aggfunc="mean")
    for name in (a, b):
        if name not in wide:
            wide[name] = np.nan
    both = wide[[a, b]].dropna()
    unmatched = [f"{s}/seed{x}" for (s, x) in wide.index.difference(both.index)]
    subj = both.groupby(level="split").mean()
    return both, subj, unmatched


def compare(records: Iterable[Record], task: str, a: str, b: str, metric: str = "top1", *,
            n_boot: int = 10000, seed: int = 0, ci_level: float = 0.95) -> Comparison:
    """Paired statistics of submission ``a`` against ``b`` on ``task`` for ``metric``."""
    units, subj, unmatched = matched(list(records), task, metric, a, b)
    xa, xb = subj[a].to_numpy(), subj[b].to_numpy()
    diff = xa - xb
    t_s, p_s = _paired_t(xa, xb)
    t_u, p_u = _paired_t(units[a].to_numpy(), units[b].to_numpy())
    w, p_w = _wilcoxon(diff)
    sd = diff.std(ddof=1) if len(diff) > 1 else float("nan")
    dz = float(diff.mean() / sd) if len(diff) > 1 and sd > 0 else float("nan")
    lo, hi = bootstrap_ci(diff, ci_level, n_boot, seed)
    return Comparison(task=task, metric=metric, a=a, b=b, n_subjects=len(subj), n_units=len(units),
                      mean_a=float(xa.mean()) if len(xa) else float("nan"),
                      mean_b=float(xb.mean()) if len(xb) else float("nan"),
                      mean_diff=float(diff.mean()) if len(diff) else float("nan"),
                      t_subject=t_s, p_subject=p_s, t_unit=t_u, p_unit=p_u, wilcoxon_stat=w, p_wilcoxon=p_w,
                      cohens_dz=dz, ci_low=lo, ci_high=hi, ci_level=ci_level, unmatched=unmatched)


def compare_all(records: Iterable[Record], task: str, submissions: list[str], metric: str = "top1", *,
                correction: Correction = "holm", pairs: list[tuple[str, str]] | None = None,
                n_boot: int = 10000, seed: int = 0) -> list[Comparison]:
    """Compare every pair (or the given ``pairs``) and correct the subject-level p-values as one family."""
    records = list(records)
    pairs = pairs or list(itertools.combinations(submissions, 2))
    results = [compare(records, task, a, b, metric, n_boot=n_boot, seed=seed) for a, b in pairs]
    adjusted = correct([c.p_subject for c in results], correction)
    for c, p in zip(results, adjusted):
        c.p_corrected = float(p)
        c.correction = correction
    return results
