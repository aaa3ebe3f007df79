"""Where the pages' records come from: the MLflow store, results snapshots (files or folders), or both.

Snapshots are the JSON files of :mod:`bench.records.snapshot` (schema ``brainvis-bench/results-snapshot``,
every record with its unit key). Records from several sources are merged by key (the first source
wins), so a snapshot submitted by pull request and the local store can be combined.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from bench.errors import RecordError
from bench.leaderboard.data import merge_records
from bench.records.schema import Record

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def records_from_mlflow(tracking_uri: str) -> tuple[list[Record], dict[str, str]]:
    """All unit records in the store (finished and failed) and, per task, when its latest unit finished."""
    from bench.records.mlflow_store import RecordStore

    store = RecordStore(tracking_uri, create=False)
    try:
        records = store.records(include_failed=True)
    except RecordError as exc:
        # a run that crashed while being written (or is being written now) has no record.json: keep the
        # finished records, which are complete by construction, and say what was left out
        warnings.warn(f"failed units are not shown: {exc}", stacklevel=2)
        records = store.records()
    last: dict[str, str] = {}
    for task in sorted({r.task for r in records}):
        if not _SAFE_NAME.match(task):
            continue
        runs = store.client.search_runs(
            [store.experiment_id], max_results=1, order_by=["attributes.end_time DESC"],
            filter_string=f"tags.`bench.kind` = 'unit' and tags.`bench.task` = '{task}'")
        if runs:
            stamp = _iso(runs[0].info.end_time or runs[0].info.start_time)
            if stamp:
                last[task] = stamp
    return records, last


def snapshot_files(paths: Sequence[Path | str]) -> list[Path]:
    """The snapshot files named by ``paths`` (a folder stands for the ``*.json`` files directly in it, except
    the analysis files beside them: ``*.verification.json``, ``*.ceiling.json``, ``*.checks.json``)."""
    from bench.leaderboard.analyses import is_analysis_file

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.json") if not is_analysis_file(f))   # not snapshots
            if not found:
                raise RecordError("no *.json snapshot in this folder", where=p,
                                  fix="export one with `bench leaderboard export --out FILE`")
            files += found
        else:
            files.append(p)
    return files


def records_from_snapshots(paths: Sequence[Path | str]) -> tuple[list[Record], dict[str, str]]:
    """Records of every snapshot (merged by key) and, per task, the newest ``created`` of its snapshots."""
    from bench.analysis.verify import attach_verification
    from bench.records.snapshot import import_snapshot

    lists = []
    last: dict[str, str] = {}
    for path in snapshot_files(paths):
        records = attach_verification(import_snapshot(path), path)   # its <snapshot>.verification.json, if any
        lists.append(records)
        try:
            created = str(json.loads(path.read_text()).get("created") or "")
        except (OSError, ValueError):
            created = ""
        stamp = _created(created)
        if stamp:
            for task in {r.task for r in records}:
                if stamp > last.get(task, ""):
                    last[task] = stamp
    return merge_records(*lists), last


def _created(text: str) -> str | None:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load_sources(tracking_uri: str | None = None, snapshots: Sequence[Path | str] = ()
                 ) -> tuple[list[Record], dict[str, str]]:
    """Records from the store (when ``tracking_uri``) and the snapshots, merged by key, with last updates."""
    lists, last = [], {}
    if tracking_uri:
        recs, when = records_from_mlflow(tracking_uri)
        lists.append(recs)
        last.update(when)
    if snapshots:
        recs, when = records_from_snapshots(snapshots)
        lists.append(recs)
        for task, stamp in when.items():
            last[task] = max(stamp, last.get(task, ""))
    if not lists:
        raise RecordError("no source of records given", fix="pass --tracking-uri URI and/or --snapshot FILE")
    return merge_records(*lists), last


@dataclass
class ImportReport:
    """What :func:`import_into_store` did."""

    written: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    not_finished: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.written)} records written, {len(self.already_present)} already in the store (skipped), "
                f"{len(self.not_finished)} failed units skipped")


def import_into_store(records: Iterable[Record], tracking_uri: str, *, label: str = "import") -> ImportReport:
    """Write finished records whose key the store does not hold yet (one parent run groups them)."""
    from bench.leaderboard.data import check_records
    from bench.records.mlflow_store import RecordStore

    records = check_records(records)
    store = RecordStore(tracking_uri)
    present = store.finished_keys()
    report = ImportReport()
    todo = []
    for r in records:
        if not r.finished:
            report.not_finished.append(r.key)
        elif r.key in present:
            report.already_present.append(r.key)
        else:
            present.add(r.key)
            todo.append(r)
    if not todo:
        return report
    parent = store.start_invocation(label, {"imported_records": str(len(todo))})
    try:
        for r in todo:
            store.write(Record.from_dict(r.to_dict()), parent_run_id=parent)
            report.written.append(r.key)
    finally:
        store.end_invocation(parent, {"units_imported": len(report.written)}, failed=len(report.written) < len(todo))
    return report


def build_site_from_mlflow(tracking_uri: str, out_dir: Path | str, **kwargs) -> list[Path]:
    """Build the site from every record in an MLflow store (see :func:`bench.leaderboard.build_site`)."""
    from bench.leaderboard.site import build_site

    records, last = records_from_mlflow(tracking_uri)
    return build_site(records, out_dir, last_update=kwargs.pop("last_update", last), **kwargs)


def build_site_from_snapshot(paths: Path | str | Sequence[Path | str], out_dir: Path | str, **kwargs) -> list[Path]:
    """Build the site from one or more results snapshots (files or folders of ``*.json``)."""
    from bench.leaderboard.site import build_site

    seq = [paths] if isinstance(paths, (str, Path)) else list(paths)
    records, last = records_from_snapshots(seq)
    return build_site(records, out_dir, last_update=kwargs.pop("last_update", last), **kwargs)
