"""Unpack a downloaded zip / tar archive into the loader's layout, safely and atomically.

Rules (:class:`bench.download.sources.Unpack`): members go under ``<root>/<into>/``; with ``top``,
the content ends up at ``<into>/<top>/`` whether or not the archive has that top folder; with
``pattern``, only files whose *name* matches are kept, written flat into ``<into>/``.

Safety: absolute paths, ``..`` components, links and device files in an archive are refused
(DataError naming the archive and the member). Atomicity: members are written into a temporary
folder next to their destination and moved into place only when the whole archive unpacked; each
file's size and SHA-256 are computed while it is written (returned for the manifest).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from bench.download.sources import Unpack
from bench.errors import DataError

_JUNK = ("__MACOSX/", ".DS_Store")


def _members(archive: Path) -> Iterator[tuple[str, bool, "callable"]]:
    """(name, is_file, opener) for every member; refuses links and special files."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                mode = (info.external_attr >> 16) & 0o170000
                if mode == 0o120000:
                    raise DataError(f"archive member '{info.filename}' is a symbolic link", where=archive,
                                    fix="the archive is not the published one; delete it and re-run the download")
                yield info.filename, not info.is_dir(), (lambda info=info: zf.open(info))
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for m in tf:
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"archive member '{m.name}' is a link or special file", where=archive,
                                    fix="the archive is not the published one; delete it and re-run the download")
                yield m.name, m.isfile(), (lambda m=m: tf.extractfile(m))
        return
    raise DataError("not a zip or tar archive", where=archive,
                    fix="the download is not the published archive (an HTML error page?); delete it and re-run")


def _safe(name: str, archive: Path) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        raise DataError(f"archive member '{name}' points outside the destination", where=archive,
                        fix="the archive is not the published one; delete it and re-run the download")
    return PurePosixPath(*[q for q in p.parts if q not in ("", ".")])


def plan_names(archive: Path, rule: Unpack) -> list[tuple[str, PurePosixPath]]:
    """(member name, destination relative to the dataset root) for every kept file of ``archive``."""
    files = [(n, _safe(n, archive)) for n, is_file, _ in _members(archive) if is_file]
    files = [(n, p) for n, p in files if p.parts and not any(str(p).startswith(j) or p.name == j for j in _JUNK)]
    into = PurePosixPath(rule.into) if rule.into else PurePosixPath()
    out = []
    if rule.pattern:
        rx = re.compile(rule.pattern)
        for n, p in files:
            if rx.fullmatch(p.name):
                out.append((n, into / p.name))
        return out
    if rule.top:
        has_top = all(p.parts[0] == rule.top and len(p.parts) > 1 for _, p in files)
        for n, p in files:
            out.append((n, into / p if has_top else into / rule.top / p))
        return out
    return [(n, into / p) for n, p in files]


def _copy_hash(src: IO[bytes], dst: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    with dst.open("wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def unpack(archive: Path, root: Path, rule: Unpack) -> dict[str, dict]:
    """Unpack ``archive`` under ``root`` following ``rule``; returns {relative path: {size, sha256}}.

    Raises DataError when the archive holds nothing the rule keeps (wrong archive) or is unsafe.
    """
    archive, root = Path(archive), Path(root)
    plan = dict(plan_names(archive, rule))
    if not plan:
        raise DataError(f"the archive holds no file for this layout (rule {rule})", where=archive,
                        fix="the archive is not the published one, or the host changed its layout; delete it "
                            "and re-run, or unpack it by hand into the layout of `bench data info`")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-unpack-{archive.name}-", dir=root))
    written: dict[str, dict] = {}
    try:
        for name, _, opener in _members(archive):
            rel = plan.get(name)
            if rel is None:
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src:
                size, sha = _copy_hash(src, target)
            written[str(rel)] = {"size": size, "sha256": sha}
        for rel in written:
            final = root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


__all__ = ["unpack", "plan_names"]
