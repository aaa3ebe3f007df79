"""The decision procedure per design: what is paired, which test decides, and what the design can detect.

PROTOCOLS.md §5, exactly:

- **Design.** Within-subject and leave-one-subject-out tasks pair two entries over matched
  *subjects* (each subject's value is its mean over the seeds both entries have). A pooled task (one
  split, e.g. ``imagenet-eeg-40``: see :func:`bench.config.schema.split_names`) has one "subject", so it
  pairs over matched *seeds*, and says so.
- **Test.** Two-sided paired t-test on the n paired differences d (``scipy.stats.ttest_rel``). It is
  undefined in two degenerate cases, which are decided rather than skipped:

  * every d is 0 (identical values): a tie, p = 1;
  * every d equals the same non-zero c (zero variance): the exact sign-flip permutation test of the
    mean difference decides. Under H0 (differences symmetric about 0) each of the 2^n sign patterns
    is equally likely, and only the observed pattern and its mirror reach |mean d| = |c|, so
    p = 2 / 2^n exactly. With n ≤ 5 pairs that is ≥ 0.0625: the difference is consistent but too few
    pairs exist to reach α = 0.05, and the verdict says so.

  With fewer than one pair there is no test (p undefined). ``d_z`` = mean(d) / sd(d) is reported only
  where the t-test decides (sd > 0, n ≥ 2) — the same rule as the test.
- **Power.** For every comparison, the minimum detectable difference (MDD) at α and 80 % power:
  the smallest |d_z| a two-sided paired t-test with n pairs detects with that power
  (``statsmodels.stats.power.TTestPower``) times the observed sd of the differences. A design with
  fewer than :data:`MIN_PAIRS` pairs is not tiered ("too few subjects to tier").

>>> test = paired_test(np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.05]))
>>> test.test, test.p          # ('exact sign-flip (constant difference)', 0.03125)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Mapping

import numpy as np
from scipy import stats

#: Declared minimum number of pairs (subjects, or seeds for pooled tasks) for tiers. Below 4 pairs a
#: two-sided paired t-test at α = 0.05 has 80 % power only for |d_z| ≥ 3.26 (n = 3) or 11.5 (n = 2;
#: |t| must exceed 12.7): a tier would call almost any real difference a tie. 4 is also the smallest
#: default design among the real tasks (THINGS-MEG and NSD: 4 subjects; |d_z| ≥ 2.13 detectable).
MIN_PAIRS = 4
#: Power at which minimum detectable differences are stated.
POWER = 0.8

PairBy = Literal["subjects", "seeds"]
T_TEST = "paired t-test"
SIGN_FLIP = "exact sign-flip (constant difference)"
IDENTICAL = "identical values (tie)"
NO_PAIRS = "no matched pairs"


@dataclass(frozen=True)
class Design:
    """How a task's entries are paired. ``pair_by`` is "subjects" or "seeds" (pooled tasks)."""

    scheme: str
    pair_by: PairBy

    @property
    def pooled(self) -> bool:
        return self.pair_by == "seeds"

    @property
    def unit(self) -> str:
        """'subject' or 'seed' (singular, for 'n = 5 subjects')."""
        return "seed" if self.pooled else "subject"

    def describe(self) -> str:
        if self.pooled:
            return (f"{self.scheme}: one pooled split, so entries are paired over matched seeds "
                    f"(seed-level paired test; subject-level tests do not exist for this design)")
        return (f"{self.scheme}: entries are paired over matched subjects "
                f"(each subject's mean over the matched seeds; subject-level paired test)")


def design_of(task_spec: Mapping[str, Any]) -> Design:
    """The design of a resolved task spec (its ``scheme``; one split means pooled)."""
    from bench.config.schema import split_names

    scheme = str(task_spec.get("scheme", "within-subject"))
    dataset = task_spec.get("dataset") if isinstance(task_spec.get("dataset"), dict) else {}
    subjects = [s for s in dataset.get("subjects", []) if isinstance(s, int)]
    pooled = [name for name, _ in split_names(scheme, subjects)] == ["pooled"]
    return Design(scheme=scheme, pair_by="seeds" if pooled else "subjects")


@lru_cache(maxsize=256)
def detectable_dz(n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest |d_z| a two-sided paired t-test with ``n`` pairs detects at ``alpha`` with ``power`` (NaN if n < 2)."""
    if n < 2:
        return float("nan")
    from statsmodels.stats.power import TTestPower

    return float(TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                          alternative="two-sided"))


def critical_t(n: int, alpha: float = 0.05) -> float:
    """|t| a two-sided paired t-test with ``n`` pairs must exceed at ``alpha`` (NaN if n < 2)."""
    return float(stats.t.ppf(1 - alpha / 2, n - 1)) if n >= 2 else float("nan")


def sign_flip_min_p(n: int) -> float:
    """Smallest two-sided p the exact sign-flip test can give with ``n`` pairs: 2 / 2^n (1 for n ≤ 1)."""
    return min(1.0, 2.0 / 2.0 ** n) if n >= 1 else float("nan")


@dataclass
class PairedTest:
    """The decision on n paired differences d = a − b (see module doc)."""

    n: int
    mean_diff: float
    sd_diff: float
    test: str
    statistic: float
    p: float
    dz: float
    mdd: float
    alpha: float
    note: str = ""


def _constant(d: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(d)))) if len(d) else 1.0
    return bool(np.ptp(d) <= 1e-12 * scale)


def paired_test(diff: np.ndarray, alpha: float = 0.05) -> PairedTest:
    """Decide a paired comparison from its differences (module doc): t-test, tie or exact sign-flip."""
    d = np.asarray(diff, dtype=float)
    n = len(d)
    nan = float("nan")
    if n == 0:
        return PairedTest(0, nan, nan, NO_PAIRS, nan, nan, nan, nan, alpha, "nothing matched: no test")
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else nan
    dz_min = detectable_dz(n, alpha)
    if _constant(d):
        # zero variance: the exact sign-flip test decides; it detects any constant difference iff 2/2^n < alpha
        floor = sign_flip_min_p(n)
        mdd = 0.0 if floor < alpha else nan
        short = "" if floor < alpha else (f"; with {n} pair(s) no test can reach p < {alpha:g} "
                                          f"(the exact test needs ≥ {_pairs_for(alpha)} pairs)")
        if np.all(np.abs(d) <= 1e-12):
            return PairedTest(n, 0.0, 0.0 if n > 1 else nan, IDENTICAL, nan, 1.0, nan, mdd, alpha,
                              "identical values: a tie (exact sign-flip p = 1)")
        note = f"every difference equals {mean:+.4g}: exact sign-flip p = 2/2^{n} = {floor:.4g}" + short
        return PairedTest(n, mean, 0.0 if n > 1 else nan, SIGN_FLIP, nan, floor, nan, mdd, alpha, note)
    res = stats.ttest_rel(d, np.zeros(n))
    return PairedTest(n, mean, sd, T_TEST, float(res.statistic), float(res.pvalue), mean / sd, dz_min * sd, alpha)


def _pairs_for(alpha: float) -> int:
    """Fewest pairs for which the exact sign-flip test can give p < alpha."""
    n = 1
    while sign_flip_min_p(n) >= alpha:
        n += 1
    return n


def power_text(n: int, unit: str, alpha: float = 0.05, sds: list[float] | None = None,
               fmt=lambda v: f"{v:.3g}") -> str:
    """The power statement of a design with ``n`` pairs ('subject'/'seed'); ``sds``: observed sds of differences."""
    units = f"{n} {unit}{'s' if n != 1 else ''}"
    if n < 2:
        return f"With {units} no paired t-test is possible: nothing is detectable."
    dz, tc = detectable_dz(n, alpha), critical_t(n, alpha)
    text = (f"With {units}, a two-sided paired t-test at α = {alpha:g} (before correction) needs |t| > {tc:.3g} and "
            f"has {POWER:.0%} power only for |d_z| ≥ {dz:.3g}")
    finite = sorted(s for s in (sds or []) if s is not None and math.isfinite(s) and s > 0)
    if finite:
        lo, hi = dz * finite[0], dz * finite[-1]
        span = fmt(lo) if len(finite) == 1 else f"{fmt(lo)}–{fmt(hi)}"
        text += f", i.e. a difference of {span} given the observed sd of the {unit} differences"
    text += "."
    if n < MIN_PAIRS:
        text += f" Fewer than {MIN_PAIRS} {unit}s: too few {unit}s to tier."
    return text


__all__ = ["Design", "IDENTICAL", "MIN_PAIRS", "NO_PAIRS", "POWER", "PairedTest", "SIGN_FLIP", "T_TEST",
           "critical_t", "design_of", "detectable_dz", "paired_test", "power_text", "sign_flip_min_p"]
