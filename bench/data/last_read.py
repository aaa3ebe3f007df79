"""The signals a loader read last, per slot, kept for the next unit of the same subject (this process).

A protocol runs every seed of a subject one after another (seeds are the innermost loop of a plan),
and a tuning study runs every trial on the same subject: each would read and average the same file
again -- for a 250 Hz THINGS-EEG2 training file, 8.3 GB of float64. A loader asks :func:`recall`
with a key that names the file as it is now (resolved path, size, ``st_mtime_ns``, inode: the rule
:mod:`bench.data.checksum` trusts) and everything that shaped the result (channels, times,
repetition mode); on a miss it calls :func:`forget` *before* reading, so that at most one result
per slot is held and the old one is freed first, then :func:`keep`.

Kept arrays are made read-only: a consumer that wrote into one would silently change the next
unit's data, so it fails loudly instead. ``BENCH_REHASH=1`` (re-read everything) bypasses the memo.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Hashable

import numpy as np

from bench.data.checksum import rehash_enabled

_LOCK = threading.Lock()
#: slot -> (key, signals, digest)
_LAST: dict[str, tuple[Hashable, np.ndarray, str]] = {}


def file_key(path: Path, *shape: Any) -> tuple:
    """A key naming ``path`` as it is on disk now, plus whatever else shaped the result (``shape``)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return (real, st.st_size, st.st_mtime_ns, st.st_ino, *shape)


def recall(slot: str, key: Hashable) -> tuple[np.ndarray, str] | None:
    """The (read-only signals, file digest) kept under ``slot`` if they were read for ``key``."""
    if rehash_enabled():
        return None
    with _LOCK:
        hit = _LAST.get(slot)
    if hit is None or hit[0] != key:
        return None
    return hit[1], hit[2]


def forget(slot: str) -> None:
    """Drop what ``slot`` holds (call before reading its replacement: peak memory stays one result)."""
    with _LOCK:
        _LAST.pop(slot, None)


def keep(slot: str, key: Hashable, signals: np.ndarray, digest: str) -> np.ndarray:
    """Keep ``signals`` (made read-only) under ``slot`` for ``key``; returns them."""
    signals.flags.writeable = False
    with _LOCK:
        _LAST[slot] = (key, signals, digest)
    return signals


def clear() -> None:
    """Forget every slot (tests; a long-lived process that wants its memory back)."""
    with _LOCK:
        _LAST.clear()


__all__ = ["clear", "file_key", "forget", "keep", "recall"]
