"""Paired comparison of two submissions on one task and metric (PROTOCOLS.md §5, :mod:`bench.stats.design`).

Records are resolved first (:func:`bench.stats.entries.resolve_entries`): conflicting units are left
out and listed. Units are matched by (split, seed). The **decision** pairs over the design's unit:

- within-subject / leave-one-subject-out: matched subjects, each the mean over the matched seeds;
- pooled (one split): matched seeds, labelled as such.

The deciding test is :func:`bench.stats.design.paired_test` (paired t-test; identical values tie;
a constant non-zero difference is decided by the exact sign-flip test, p = 2/2^n). Reported with it:
Cohen's d_z (only where the t-test decides), the minimum detectable difference at α and 80 % power,
a BCa bootstrap CI of the mean paired difference (``scipy.stats.bootstrap``, seeded), and for
reference the unit-level (subject, seed) paired decision (same rule) and the Wilcoxon signed-rank test over
the pairs.
Units present for only one submission are listed as unmatched and left out, never imputed.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from bench.records.schema import Record
from bench.stats.aggregate import unit_table
from bench.stats.corrections import Correction, correct
from bench.stats.design import design_of, paired_test
from bench.stats.entries import resolve_entries


@dataclass
class Comparison:
    """Result of ``compare``. Differences are a - b (positive: a scores higher).

    pair_by / n_pairs: what the deciding test pairs over ("subjects" or "seeds") and how many pairs.
    test, t, p:        the deciding test (see :mod:`bench.stats.design`) and its statistic and p-value.
    p_corrected:       p adjusted over the family (``correction``); ``None`` outside a family.
    mdd:               minimum detectable |difference| at ``alpha`` and 80 % power (NaN: nothing detectable).
    conflicts:         units of a or b excluded because their records conflict.
    """

    task: str
    metric: str
    a: str
    b: str
    pair_by: str
    n_pairs: int
    n_subjects: int
    n_units: int
    mean_a: float
    mean_b: float
    mean_diff: float
    test: str
    t: float
    p: float
    cohens_dz: float
    sd_diff: float
    mdd: float
    t_unit: float
    p_unit: float
    wilcoxon_stat: float
    p_wilcoxon: float
    ci_low: float
    ci_high: float
    ci_level: float = 0.95
    ci_method: str = "BCa bootstrap"
    alpha: float = 0.05
    p_corrected: float | None = None
    correction: str = "none"
    note: str = ""
    unmatched: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def p_decision(self) -> float:
        """The p-value the verdict uses: corrected when part of a family, else raw."""
        return self.p if self.p_corrected is None else self.p_corrected

    @property
    def significant(self) -> bool:
        """p (corrected where corrected) < alpha; a p of exactly 0 is significant, NaN never is."""
        p = self.p_decision
        return p is not None and not math.isnan(p) and p < self.alpha

    def verdict(self) -> str:
        if self.n_pairs == 0:
            return "no test: nothing matched"
        if self.significant:
            return f"{self.a} > {self.b}" if self.mean_diff > 0 else f"{self.a} < {self.b}"
        return "not significantly different"

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict()}


def _wilcoxon(diff: np.ndarray) -> tuple[float, float]:
    if len(diff) < 2 or np.all(diff == 0):
        return float("nan"), float("nan")
    res = stats.wilcoxon(diff)
    return float(res.statistic), float(res.pvalue)


def bootstrap_ci(diff: np.ndarray, level: float = 0.95, n_boot: int = 10000, seed: int = 0) -> tuple[float, float]:
    """BCa bootstrap CI of mean(diff) (``scipy.stats.bootstrap``, rng seeded with ``seed``).

    Fewer than two values: (NaN, NaN). All values equal: every resample has the same mean, so the
    interval is that value at both ends. NaN where scipy's BCa is degenerate (e.g. very small n)."""
    d = np.asarray(diff, dtype=float)
    if len(d) < 2:
        return float("nan"), float("nan")
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((d,), np.mean, confidence_level=level, n_resamples=n_boot, method="BCa",
                              rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def matched(records: Iterable[Record], task: str, metric: str, a: str, b: str
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Matched unit-level and subject-level tables (columns a, b) and the unmatched unit labels.

    ``records`` should be resolved (:func:`resolve_entries`); :func:`compare` does that."""
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
            n_boot: int = 10000, seed: int = 0, ci_level: float = 0.95, alpha: float = 0.05) -> Comparison:
    """Paired statistics of submission ``a`` against ``b`` on ``task`` for ``metric`` (module doc)."""
    records = [r for r in records if r.task == task and r.submission in (a, b)]
    resolved = resolve_entries(records)
    units, subj, unmatched = matched(resolved.records, task, metric, a, b)
    example = next((r for r in records if r.finished), None)
    pair_by = design_of(example.task_spec).pair_by if example else "subjects"
    pairs = units if pair_by == "seeds" else subj
    xa, xb = pairs[a].to_numpy(dtype=float), pairs[b].to_numpy(dtype=float)
    diff = xa - xb
    decision = paired_test(diff, alpha)
    unit_level = paired_test(units[a].to_numpy(dtype=float) - units[b].to_numpy(dtype=float), alpha)
    w, p_w = _wilcoxon(diff)
    lo, hi = bootstrap_ci(diff, ci_level, n_boot, seed)
    nan = float("nan")
    # the score means are the entries' own: mean over subjects of the matched seed means
    sa, sb = subj[a].to_numpy(dtype=float), subj[b].to_numpy(dtype=float)
    return Comparison(task=task, metric=metric, a=a, b=b, pair_by=pair_by, n_pairs=len(diff),
                      n_subjects=len(subj), n_units=len(units),
                      mean_a=float(sa.mean()) if len(sa) else nan, mean_b=float(sb.mean()) if len(sb) else nan,
                      mean_diff=float((sa - sb).mean()) if len(sa) else nan, test=decision.test,
                      t=decision.statistic, p=decision.p, cohens_dz=decision.dz, sd_diff=decision.sd_diff,
                      mdd=decision.mdd, t_unit=unit_level.statistic, p_unit=unit_level.p, wilcoxon_stat=w,
                      p_wilcoxon=p_w, ci_low=lo,
                      ci_high=hi, ci_level=ci_level, alpha=alpha, note=decision.note, unmatched=unmatched,
                      conflicts=[f"{c.submission}: {c.label}" for c in resolved.conflicts])


def compare_all(records: Iterable[Record], task: str, submissions: list[str], metric: str = "top1", *,
                correction: Correction = "holm", pairs: list[tuple[str, str]] | None = None,
                n_boot: int = 10000, seed: int = 0, alpha: float = 0.05) -> list[Comparison]:
    """Compare every pair (or the given ``pairs``) and correct the deciding p-values as one family."""
    records = [r for r in records if r.task == task]
    pairs = pairs or list(itertools.combinations(submissions, 2))
    results = [compare(records, task, a, b, metric, n_boot=n_boot, seed=seed, alpha=alpha) for a, b in pairs]
    adjusted = correct([c.p for c in results], correction)
    for c, p in zip(results, adjusted):
        c.p_corrected = float(p)
        c.correction = correction
    return results
