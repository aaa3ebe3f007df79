"""Multiple-comparison corrections, declared by name: Holm (family-wise) or Benjamini-Hochberg (FDR).

Both are ``statsmodels.stats.multitest.multipletests`` (``holm``, ``fdr_bh``). A NaN p-value (a test
that could not be run: nothing matched) is left out of the family and stays NaN, so the family's size
counts the tests that exist.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator, Literal, Sequence

import numpy as np

Correction = Literal["holm", "bh", "none"]
_METHODS = {"holm": "holm", "bh": "fdr_bh"}


def _adjust(pvalues: Sequence[float], method: str) -> np.ndarray:
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        with _heap_frozen():
            out[ok] = multipletests(p[ok], method=method)[1]
    return out


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """statsmodels' Holm branch calls ``gc.collect()`` on every call (statsmodels 0.14-0.15): a full
    collection over the process's heap, 0.1-1.5 s once torch, MLflow and pandas are loaded, paid per
    family by every comparison, tier round and page. Objects that exist before the call are moved to
    the permanent generation for its duration (``gc.freeze``; O(1)), so that collection scans only
    what the call itself creates. A heap someone else froze (a fork-server worker) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
