"""Content checksums of the files a unit actually read, cached so that each file is hashed once.

A file's SHA-256 is remembered under its absolute path with its size and modification time
(``st_mtime_ns``): in memory for the process, and on disk in one SQLite table,
``<cache_dir>/checksums/index.sqlite`` (shared safely by parallel unit processes). A changed size or
mtime re-hashes the file; an unchanged 8 GB file, or the 3,608 images of the demo, cost one
``stat`` each. The cached digests are trusted as long as (size, mtime) match: set
``BENCH_REHASH=1`` (or call :func:`set_rehash`) to re-read every file once in this process and
refresh the cache (e.g. after copying data with preserved timestamps but other bytes).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

_CHUNK = 1 << 22
_LOCK = threading.Lock()
#: path -> (size, mtime_ns, sha256), this process
_MEMO: dict[str, tuple[int, int, str]] = {}
#: cache dirs whose index is loaded into _MEMO
_LOADED: set[str] = set()
#: paths re-hashed in this process under rehash mode
_REHASHED: set[str] = set()
_REHASH: bool | None = None
#: cache dir -> rows not yet written to its index (written in batches: one transaction per file is slow)
_PENDING: dict[str, list[tuple[str, int, int, str]]] = {}
_BATCH = 512


def set_rehash(on: bool | None) -> None:
    """Re-hash every file once in this process, ignoring cached digests (None: from ``BENCH_REHASH``)."""
    global _REHASH
    with _LOCK:
        _REHASH = on
        _REHASHED.clear()


def rehash_enabled() -> bool:
    if _REHASH is not None:
        return _REHASH
    return os.environ.get("BENCH_REHASH", "").strip().lower() in ("1", "true", "yes", "on")


def clear_memory() -> None:
    """Forget the in-process memo (the on-disk index stays, pending digests are written); for tests."""
    flush()
    with _LOCK:
        _MEMO.clear()
        _LOADED.clear()
        _REHASHED.clear()


def _index_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "checksums" / "index.sqlite"


def _connect(cache_dir: Path) -> sqlite3.Connection:
    path = _index_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                "mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)")
    return con


def _load_index(cache_dir: Path) -> None:
    """Load ``cache_dir``'s on-disk index into the memo once per process (call with _LOCK held)."""
    given = str(cache_dir)
    if given in _LOADED:   # as given: no path resolution on the per-file path
        return
    key = str(Path(cache_dir).resolve())
    if key in _LOADED:
        _LOADED.add(given)
        return
    try:
        with contextlib.closing(_connect(cache_dir)) as con, con:
            rows = con.execute("SELECT path, size, mtime_ns, sha256 FROM files").fetchall()
    except (sqlite3.Error, OSError):
        rows = []
    for path, size, mtime_ns, sha in rows:
        _MEMO.setdefault(path, (size, mtime_ns, sha))
    _LOADED.update((key, given))


def _store(cache_dir: Path, path: str, size: int, mtime_ns: int, sha: str) -> None:
    key = str(cache_dir)
    with _LOCK:
        pending = _PENDING.setdefault(key, [])
        pending.append((path, size, mtime_ns, sha))
        full = len(pending) >= _BATCH
    if full:
        flush()


def flush() -> None:
    """Write the pending digests to their on-disk indexes (also at exit)."""
    with _LOCK:
        batches = {k: v for k, v in _PENDING.items() if v}
        _PENDING.clear()
    for cache_dir, rows in batches.items():
        try:
            with contextlib.closing(_connect(Path(cache_dir))) as con, con:
                con.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", rows)
        except (sqlite3.Error, OSError):
            pass  # a cache: a read-only or locked cache dir costs a re-hash next time, nothing else


atexit.register(flush)


def _legacy_sidecar(cache_dir: Path, path: str, size: int, mtime_ns: int) -> str | None:
    """Digest from the per-file JSON sidecars of earlier versions, if they match."""
    sidecar = Path(cache_dir) / "checksums" / f"{hashlib.sha1(path.encode()).hexdigest()}.json"
    try:
        cached = json.loads(sidecar.read_text())
        if cached["size"] == size and cached["mtime_ns"] == mtime_ns:
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _hash_bytes(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cached_sha256(path: Path, cache_dir: Path | None = None) -> str | None:
    """The remembered SHA-256 of ``path`` if its (size, mtime_ns) still match (None: it must be hashed).

    A reader that hashes the bytes while it reads them (one pass) asks this first, and hands the
    digest it computed to :func:`remember_sha256`. Under re-hash mode a file counts as cached only
    once it was re-hashed in this process.
    """
    return _cached(os.path.realpath(path), cache_dir)


def _cached(key: str, cache_dir: Path | None) -> str | None:
    """:func:`cached_sha256` for an already resolved path."""
    stat = os.stat(key)
    rehash = rehash_enabled()
    with _LOCK:
        if cache_dir is not None and not rehash:
            _load_index(cache_dir)
        hit = _MEMO.get(key)
        if hit is not None and hit[:2] == (stat.st_size, stat.st_mtime_ns) and (not rehash or key in _REHASHED):
            return hit[2]
    if cache_dir is not None and not rehash:
        return _legacy_sidecar(cache_dir, key, stat.st_size, stat.st_mtime_ns)
    return None


def remember_sha256(path: Path, stat: os.stat_result, digest: str, cache_dir: Path | None = None) -> None:
    """Remember ``digest`` as the SHA-256 of ``path`` as it was at ``stat`` (taken before its bytes were read)."""
    key = str(Path(path).resolve())
    with _LOCK:
        _MEMO[key] = (stat.st_size, stat.st_mtime_ns, digest)
        if rehash_enabled():
            _REHASHED.add(key)
    if cache_dir is not None:
        _store(cache_dir, key, stat.st_size, stat.st_mtime_ns, digest)


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """SHA-256 hex digest of ``path``'s bytes, memoised on (path, size, mtime_ns) in memory and in ``cache_dir``."""
    key = os.path.realpath(path)
    value = _cached(key, cache_dir)
    if value is None:
        path = Path(key)
        stat = path.stat()
        value = _hash_bytes(path)
        remember_sha256(path, stat, value, cache_dir)
    return value


def combine(digests: Iterable[str]) -> str:
    """One digest for an ordered collection of digests (e.g. every file a unit read)."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
        h.update(b"\0")
    return h.hexdigest()


def files_sha256(paths: Iterable[Path], cache_dir: Path | None = None, root: Path | None = None) -> str:
    """Checksum of several files: their relative names (to ``root``) and contents, in the given order."""
    parts = []
    for p in paths:
        name = str(Path(p).relative_to(root)) if root is not None else Path(p).name
        parts.append(f"{name}:{file_sha256(Path(p), cache_dir)}")
    flush()
    return combine(parts)
