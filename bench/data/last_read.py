"""What a loader read last, per slot, kept for the next unit of the same subject (this process).

A protocol runs every seed of a subject one after another (seeds are the innermost loop of a plan),
and a tuning study runs every trial on the same subject: each would read and average the same files
again -- a 250 Hz THINGS-EEG2 training file is 8.3 GB of float64, a THINGS-MEG participant's epochs
~8 GB, an NSD subject's betas ~2 GB. A loader asks :func:`remembered` with a key that names its files
as they are now (:func:`file_key`: resolved path, size, ``st_mtime_ns``, inode -- the rule
:mod:`bench.data.checksum` trusts) and everything else that shaped the result (channels, times,
repetition mode, variant). On a miss the slot's old result is dropped *before* the read, so at most
one result per slot is held and a process's peak memory does not grow: a unit's load and the
training sets built from it coexist at that moment anyway. What changes is that this peak lasts
while the unit trains (one part's signals per process: ~1 GB float32 for a THINGS-EEG2 subject,
~5 GB for a THINGS-MEG participant). ``evaluate`` and ``tune`` clear every slot when they end.

Kept arrays are made read-only: a consumer that wrote into one would silently change the next
unit's data, so it fails loudly instead. ``BENCH_REHASH=1`` (re-read everything) bypasses the memo.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Any, Callable, Hashable, TypeVar

import numpy as np

from bench.data.checksum import rehash_enabled

T = TypeVar("T")
_LOCK = threading.Lock()
#: slot -> (key, kept result)
_LAST: dict[str, tuple[Hashable, Any]] = {}


def file_key(path: Path, *shape: Any) -> tuple:
    """A key naming ``path`` as it is on disk now, plus whatever else shaped the result (``shape``)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return (real, st.st_size, st.st_mtime_ns, st.st_ino, *shape)


def _freeze(value: Any) -> None:
    """Make the arrays of ``value`` read-only: an array, a tuple's items, or a dataclass's fields."""
    if isinstance(value, tuple):
        items = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    else:
        items = [value]
    for item in items:
        if isinstance(item, np.ndarray):
            item.flags.writeable = False


def remembered(slot: str, key: Hashable, read: Callable[[], T]) -> T:
    """``read()``'s result for ``key``: the one kept under ``slot`` when it was read for ``key`` (never
    with BENCH_REHASH), else read now -- after dropping the slot's old result, so peak memory stays one
    result per slot -- and kept, its arrays made read-only, for the next call."""
    if not rehash_enabled():
        with _LOCK:
            hit = _LAST.get(slot)
        if hit is not None and hit[0] == key:
            return hit[1]
    with _LOCK:
        _LAST.pop(slot, None)
    value = read()
    _freeze(value)
    with _LOCK:
        _LAST[slot] = (key, value)
    return value


def clear() -> None:
    """Forget every slot (tests; a long-lived process that wants its memory back)."""
    with _LOCK:
        _LAST.clear()


__all__ = ["clear", "file_key", "remembered"]
