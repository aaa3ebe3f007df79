"""Content checksums of the files a unit actually read, cached so large files are hashed once.

The cache is a small JSON sidecar per file under ``<cache_dir>/checksums/``, keyed by the absolute
path, size and modification time: a changed file gives a new checksum, an unchanged 8 GB file is
not re-read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

_CHUNK = 1 << 22


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """SHA-256 hex digest of ``path``'s bytes, memoised on (path, size, mtime_ns) in ``cache_dir``."""
    path = Path(path).resolve()
    stat = path.stat()
    sidecar = None
    if cache_dir is not None:
        name = hashlib.sha1(str(path).encode()).hexdigest()
        sidecar = Path(cache_dir) / "checksums" / f"{name}.json"
        if sidecar.is_file():
            try:
                cached = json.loads(sidecar.read_text())
                if cached["size"] == stat.st_size and cached["mtime_ns"] == stat.st_mtime_ns:
                    return cached["sha256"]
            except (ValueError, KeyError):
                pass
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    if sidecar is not None:
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp = sidecar.with_suffix(".tmp")
        tmp.write_text(json.dumps({"path": str(path), "size": stat.st_size,
                                   "mtime_ns": stat.st_mtime_ns, "sha256": value}))
        tmp.replace(sidecar)
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
    return combine(parts)
