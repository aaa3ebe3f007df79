"""``bench data download``: put a published dataset under ``<data_root>/<dataset>/`` in the loader's layout.

    report = download_dataset("things-eeg2", data_root, variant="250hz", subjects=[1, 2], mirror=None)

For each item of the source table (:mod:`bench.download.sources`):

1. **already there?** Files the manifest recorded are checked (size; SHA-256 when the size or time
   changed, or always with ``verify``). A plain file found without a record is checked against the
   published checksum, or recorded. Intact items are skipped: a second run downloads nothing.
   A corrupt item is reported and fetched again.
2. **free disk space** for everything still to fetch (archives count twice: archive + unpacked)
   is checked before the first byte (``shutil.disk_usage``).
3. **download** (:func:`bench.download.http.download`: resumable, verified, atomic), **unpack**
   archives (:func:`bench.download.archives.unpack`) and delete them, **record** in the manifest
   (saved after every item, so an interrupted run loses at most the item in flight).
4. **manual steps** (licences, passwords): the exact instructions, and a check of what is in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import glob
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from bench.download.archives import unpack
from bench.download.http import DownloadError, Expected, Fetched, download, session
from bench.download.manifest import Manifest
from bench.download.resolve import Resolver
from bench.download.sources import Item, Manual, Source, find_source
from bench.errors import DataError

SPACE_MARGIN = 1 << 30   # keep 1 GiB free beyond what the download needs


@dataclass
class DownloadReport:
    """What one ``download_dataset`` call did."""

    root: Path
    source: Source
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refetched: dict[str, list[str]] = field(default_factory=dict)   # dest -> the problems found first
    transferred: int = 0
    manual_pending: list[str] = field(default_factory=list)          # formatted instructions
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.source.dataset} ({self.source.variant}) -> {self.root}",
               f"  fetched {len(self.fetched)} file(s), {self.transferred / 1e6:.1f} MB transferred; "
               f"{len(self.skipped)} already in place"]
        for dest, problems in self.refetched.items():
            out.append(f"  re-fetched {dest}: " + "; ".join(problems))
        out.extend(f"  note: {n}" for n in self.notes)
        for text in self.manual_pending:
            out.append("  MANUAL STEP NEEDED: " + text.replace("\n", "\n    "))
        return out


def _manual_missing(root: Path, step: Manual) -> list[str]:
    return [pattern for pattern in step.required if not glob.glob(str(root / pattern))]


def _present(item: Item, manifest: Manifest, resolver: Resolver, verify: bool) -> tuple[bool, list[str]]:
    """(intact, problems) for an item; may record a plain file found in place without a record."""
    rec = manifest.items.get(item.dest)
    if rec is not None:
        problems = manifest.check_files(rec["files"], verify=verify)
        return not problems, problems
    if item.unpack is None:
        path = manifest.root / item.dest
        if not path.is_file():
            return False, []
        resolved = resolver.resolve(item.remote)
        exp = resolved.expected
        known = manifest.remote.get(resolved.url)
        if exp.sha256 is None and known:
            exp = Expected(size=known["size"], sha256=known["sha256"], origin="recorded on first download")
        record = manifest.file_record(item.dest)
        problems = []
        if exp.size is not None and record["size"] != exp.size:
            problems.append(f"{item.dest}: size {record['size']} != {exp.size} ({exp.origin})")
        elif exp.sha256 and record["sha256"] != exp.sha256:
            problems.append(f"{item.dest}: sha256 differs from the one {exp.origin}")
        elif exp.md5:
            h = hashlib.md5()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
            if h.hexdigest() != exp.md5:
                problems.append(f"{item.dest}: md5 differs from the one {exp.origin}")
        if problems:
            return False, problems
        manifest.record_item(item.dest, resolved.url, {item.dest: record},
                             exp.origin if exp.sha256 or exp.md5 else "found in place (recorded)")
        manifest.save()
        return True, []
    if item.expect and all((manifest.root / e).exists() for e in item.expect):
        return True, []   # unpacked by hand: nothing recorded to check against
    return False, []


def download_dataset(dataset: str, data_root: Path, *, variant: str | None = None,
                     subjects: Sequence[int] | None = None, mirror: str | None = None,
                     accept_terms: Sequence[str] = (), verify: bool = False, progress: bool = True,
                     echo: Callable[[str], None] = print) -> DownloadReport:
    """Download ``dataset`` (``variant``; default: the table's default) into ``data_root/<dataset>/``."""
    source = find_source(dataset, variant)
    root = Path(data_root).expanduser() / source.dataset
    if source.terms and source.dataset not in {t.lower() for t in accept_terms}:
        raise DataError(f"{source.dataset} needs its terms accepted first",
                        fix=source.terms + f"\n  (files would go to {root})")
    report = DownloadReport(root, source)
    items = source.select(subjects)
    if subjects and items and all(i.subject is None for i in items):
        report.notes.append(f"{source.dataset} ({source.variant}) is not published per subject (one archive for "
                            f"subjects {list(source.subjects)}): --subjects has no effect")
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / LOCK):   # one downloader per dataset folder at a time
        return _download_items(source, items, root, report, mirror, verify, progress, echo, Path(data_root))


LOCK = ".bench-download.lock"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError("another `bench data download` is writing this folder", where=path.parent,
                            fix="wait for it to finish (or stop it), then re-run") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _download_items(source: Source, items: list[Item], root: Path, report: DownloadReport, mirror: str | None,
                    verify: bool, progress: bool, echo: Callable[[str], None], data_root: Path) -> DownloadReport:
    manifest = Manifest.load(root)
    http = session()
    resolver = Resolver(mirror=mirror, http=http)

    todo: list[Item] = []
    for item in items:
        intact, problems = _present(item, manifest, resolver, verify)
        if intact:
            report.skipped.append(item.dest)
            continue
        if problems:
            echo(f"{item.dest}: corrupt or changed ({'; '.join(problems)}); fetching it again")
            report.refetched[item.dest] = problems
            manifest.items.pop(item.dest, None)
        todo.append(item)

    resolved = {item.dest: resolver.resolve(item.remote) for item in todo}
    need = 0
    unknown = []
    for item in todo:
        size = resolved[item.dest].expected.size or manifest.remote.get(resolved[item.dest].url, {}).get("size")
        if size is None:
            unknown.append(item.dest)
            continue
        part = root / (item.dest + ".part")
        need += size - (part.stat().st_size if part.is_file() else 0)
        if item.unpack is not None:
            need += size   # unpacked copy (at least as large as a compressed archive, roughly)
    if todo:
        free = shutil.disk_usage(root).free
        if need + SPACE_MARGIN > free:
            raise DataError(f"not enough free disk space: the download needs {need / 1e9:.2f} GB (+1 GiB margin), "
                            f"{free / 1e9:.2f} GB are free", where=root,
                            fix="free some space or pass --data-root on a larger disk (download fewer --subjects)")
        echo(f"{source.dataset} ({source.variant}): {len(todo)} file(s) to fetch, {need / 1e9:.2f} GB"
             + (f" (+ {len(unknown)} of unknown size)" if unknown else "") + f", {free / 1e9:.1f} GB free")

    for item in todo:
        res = resolved[item.dest]
        exp = res.expected
        known = manifest.remote.get(res.url)
        if exp.sha256 is None and exp.md5 is None and known:
            exp = Expected(size=known["size"], sha256=known["sha256"], origin="recorded on first download")
        fetched = _complete_archive(root / item.dest, exp) if item.unpack is not None else None
        if fetched is None:
            fetched = download(res.url, root / item.dest, exp, mirror=mirror, http=http, progress=progress,
                               desc=item.dest)
        else:
            echo(f"{item.dest}: complete archive already here (a run stopped before unpacking it); unpacking")
        report.transferred += fetched.transferred
        if exp.sha256 is None and exp.md5 is None and res.url not in manifest.remote:
            manifest.record_remote(res.url, fetched.size, fetched.sha256)
            report.notes.append(f"{item.dest}: no published checksum; recorded size {fetched.size} and sha256 "
                                f"{fetched.sha256[:16]}... for later checks")
        origin = exp.origin if (exp.sha256 or exp.md5) else "recorded on first download"
        if item.unpack is not None:
            files = unpack(fetched.path, root, item.unpack)
            fetched.path.unlink()
            for rel, rec in files.items():
                rec["mtime_ns"] = (root / rel).stat().st_mtime_ns
        else:
            files = {item.dest: manifest.file_record(item.dest, fetched.size, fetched.sha256)}
        manifest.record_item(item.dest, res.url, files, origin)
        manifest.save()
        report.fetched.append(item.dest)

    for step in source.manual:
        missing = _manual_missing(root, step)
        if missing:
            report.manual_pending.append(
                f"{step.title}: missing {', '.join(missing)}\n"
                + step.instructions.format(root=root, data_root=Path(data_root).expanduser()))
    return report


def _complete_archive(path: Path, exp: Expected) -> Fetched | None:
    """``path`` as a finished download when it matches the expected checksum (else None: fetch it)."""
    if not path.is_file() or not (exp.sha256 or exp.md5):
        return None
    if exp.size is not None and path.stat().st_size != exp.size:
        return None
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            sha.update(chunk)
            md5.update(chunk)
    if (exp.sha256 and sha.hexdigest() != exp.sha256) or (exp.md5 and md5.hexdigest() != exp.md5):
        return None
    return Fetched(path, path.stat().st_size, sha.hexdigest(), 0)


def list_sources() -> list[str]:
    """One line per (dataset, variant) of the table, with its manual steps and terms."""
    from bench.download.sources import SOURCES

    out = []
    for s in SOURCES:
        flags = [f for f, on in (("default", s.default), ("needs --accept-terms", bool(s.terms)),
                                 ("manual step", bool(s.manual))) if on]
        out.append(f"{s.dataset:<13} --variant {s.variant:<12} {s.title}" + (f"  [{', '.join(flags)}]" if flags else ""))
    return out


def describe_dataset(root: Path, source: Source) -> dict:
    """``bench data info``'s report of the downloaded folder (wherever that function lives now)."""
    from bench.data.describe import describe

    return describe(root, dataset=source.dataset, variant=source.info_variant)


__all__ = ["DownloadReport", "download_dataset", "describe_dataset", "list_sources", "DownloadError"]
