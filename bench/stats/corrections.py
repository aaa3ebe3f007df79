"""Multiple-comparison corrections, declared by name: Holm (family-wise) or Benjamini-Hochberg (FDR).

Both are ``statsmodels.stats.multitest.multipletests`` (``holm``, ``fdr_bh``). A NaN p-value (a test
that could not be run: nothing matched) is left out of the family and stays NaN, so the family's size
counts the tests that exist.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

Correction = Literal["holm", "bh", "none"]
_METHODS = {"holm": "holm", "bh": "fdr_bh"}


def _adjust(pvalues: Sequence[float], method: str) -> np.ndarray:
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1). NaN stays NaN."""
    return _adjust(pvalues, "holm")


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values. NaN stays NaN."""
    return _adjust(pvalues, "fdr_bh")


def correct(pvalues: Sequence[float], method: Correction) -> np.ndarray:
    """Adjust ``pvalues`` for a family of tests with the declared ``method``."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return np.asarray(pvalues, dtype=float)
    raise ValueError(f"unknown correction '{method}': use holm, bh or none")
