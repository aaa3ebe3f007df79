"""Shared input checks and correlation helpers of the metric core (private: not a plug-in module).

Every metric accepts numpy arrays or torch tensors. Inputs are converted once, here, to float64
numpy arrays (torch tensors are detached and moved to the CPU) and checked: NaN/Inf and wrong
shapes raise :class:`MetricInputError`, which names the argument, the expected shape and the fix.

Pearson correlation convention used by every metric here: when either vector is constant
(``max == min``, zero variance) Pearson's r is undefined; we return **0.0** (no linear
relationship, the chance value) instead of NaN, so a blank reconstruction or a flat saliency map
scores as chance rather than poisoning a mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.errors import BenchError


class MetricInputError(BenchError, ValueError):
    """A metric received an input of the wrong shape, range or dtype, or holding NaN/Inf.

    Also a ``ValueError``, so generic callers that catch ``ValueError`` keep working.
    """


def is_tensor(x: Any) -> bool:
    """True for a torch tensor (without importing torch when it is not loaded)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def to_numpy(x: Any, name: str, *, dtype: Any = np.float64, where: str | None = None) -> np.ndarray:
    """``x`` (numpy array, torch tensor, nested list) as a numpy array of ``dtype``; NaN/Inf rejected.

    ``dtype=None`` keeps a floating dtype as it is (other dtypes become float64).
    """
    if is_tensor(x):
        x = x.detach().cpu()
        if str(x.dtype) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise MetricInputError(f"'{name}' is not array-like ({type(x).__name__})", where=where,
                               fix="pass a numpy array or a torch tensor") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise MetricInputError(f"'{name}' has non-numeric dtype {arr.dtype}", where=where,
                               fix="pass a numeric numpy array or torch tensor")
    if dtype is None:
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    arr = arr.astype(dtype, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        check_finite(arr, name, where=where)
    return arr


def check_finite(arr: np.ndarray, name: str, *, where: str | None = None) -> None:
    """Raise MetricInputError if ``arr`` holds NaN or Inf (says how many and the first position)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise MetricInputError(
            f"'{name}' holds {int(bad.sum())} NaN/Inf value(s) (first at index {first})", where=where,
            fix="remove or repair the non-finite values before scoring (a NaN usually comes from a "
                "diverged model or an uninitialised image)")


def as_feature_matrix(x: Any, name: str, *, where: str | None = None) -> np.ndarray:
    """Features ``(N, ...)`` flattened to ``(N, D)`` (a 1-D input is rejected).

    Floating inputs keep their dtype (float32 features of 982 images x 184,512 AlexNet units would
    take 1.4 GB as float64); the correlation helpers convert row blocks to float64 as they go.
    """
    arr = to_numpy(x, name, where=where, dtype=None)
    if arr.ndim < 2:
        raise MetricInputError(f"'{name}' has shape {tuple(arr.shape)}; expected (N, D) or (N, ...) features",
                               where=where, fix=f"stack one feature vector per image into '{name}'")
    return arr.reshape(arr.shape[0], -1)


def check_pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str], *, min_n: int = 1,
               same_dims: bool = True, where: str | None = None) -> None:
    """``a`` and ``b`` describe the same N items (and, for features, have the same D)."""
    if a.shape[0] != b.shape[0]:
        raise MetricInputError(
            f"'{names[0]}' has {a.shape[0]} items but '{names[1]}' has {b.shape[0]}", where=where,
            fix="pass one reconstruction per ground-truth image, in the same order")
    if same_dims and a.shape[1:] != b.shape[1:]:
        raise MetricInputError(
            f"'{names[0]}' has per-item shape {tuple(a.shape[1:])} but '{names[1]}' has {tuple(b.shape[1:])}",
            where=where, fix="extract both with the same model and layer")
    if a.shape[0] < min_n:
        raise MetricInputError(f"need at least {min_n} items, got {a.shape[0]}", where=where,
                               fix=f"score at least {min_n} images")


def standardize_rows(x: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit L2 norm (float64); constant rows (max == min) become zeros.

    The dot product of two standardized rows is their Pearson r; a zero row gives r = 0.
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    constant = np.ptp(x, axis=1) == 0
    norms[constant] = 1.0
    centred /= norms[:, None]
    centred[constant] = 0.0
    return centred


def rowwise_pearson(a: np.ndarray, b: np.ndarray, block: int = 256) -> np.ndarray:
    """Pearson r between row i of ``a`` and row i of ``b``, (N,) float64; 0 where a row is constant."""
    out = np.empty(a.shape[0], dtype=np.float64)
    for s in range(0, a.shape[0], block):
        sa = standardize_rows(a[s:s + block])
        sb = standardize_rows(b[s:s + block])
        out[s:s + block] = np.einsum("ij,ij->i", sa, sb)
    return np.clip(out, -1.0, 1.0)


def cross_pearson(a: np.ndarray, b: np.ndarray, block: int = 256) -> np.ndarray:
    """Pearson r of every row of ``a`` with every row of ``b``: (Na, Nb) float64, computed in row blocks.

    Same numbers as ``np.corrcoef(a, b)[:Na, Na:]`` (with 0 instead of NaN for constant rows), without
    holding both standardized matrices in memory at once.
    """
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.float64)
    for i in range(0, a.shape[0], block):
        sa = standardize_rows(a[i:i + block])
        for j in range(0, b.shape[0], block):
            out[i:i + block, j:j + block] = sa @ standardize_rows(b[j:j + block]).T
    return np.clip(out, -1.0, 1.0)
