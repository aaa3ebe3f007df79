"""Results snapshots: records exported to one JSON file (schema below) and imported back.

A snapshot rebuilds the leaderboard without the MLflow database and is how results are submitted
by pull request. Schema (version 1)::

    {"schema": "brainvis-bench/results-snapshot", "schema_version": 1, "harness_version": "...",
     "created": "ISO-8601 UTC", "records": [<Record as dict>, ...]}

Every record keeps its unit key, so an imported snapshot is checked against and merged with
existing records by key.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Iterable

from bench import HARNESS_VERSION
from bench.errors import RecordError
from bench.records.schema import RECORD_SCHEMA_VERSION, Record

SNAPSHOT_SCHEMA = "brainvis-bench/results-snapshot"
REQUIRED = ("key", "task", "submission", "split", "subject", "seed", "status", "task_spec", "submission_spec")


def export_snapshot(records: Iterable[Record], path: Path) -> Path:
    """Write ``records`` to ``path`` as a snapshot JSON."""
    data = {"schema": SNAPSHOT_SCHEMA, "schema_version": RECORD_SCHEMA_VERSION, "harness_version": HARNESS_VERSION,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "records": [r.to_dict() for r in records]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
    return path


def import_snapshot(path: Path) -> list[Record]:
    """Read a snapshot, checking its schema; errors name the file, the record and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError("snapshot file not found", where=path, fix="check the path") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON: {exc}", where=path, fix="re-export it with `bench results --export`") from None
    if not isinstance(data, dict) or data.get("schema") != SNAPSHOT_SCHEMA:
        raise RecordError("not a brainvis-bench results snapshot", where=path, field="schema",
                          fix=f"the file must have \"schema\": \"{SNAPSHOT_SCHEMA}\"")
    if data.get("schema_version") != RECORD_SCHEMA_VERSION:
        raise RecordError(f"unsupported schema_version {data.get('schema_version')}", where=path,
                          field="schema_version", fix=f"this harness reads version {RECORD_SCHEMA_VERSION}")
    records = []
    for i, item in enumerate(data.get("records", [])):
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            raise RecordError(f"record {i} lacks {missing}", where=path, field=f"records[{i}]",
                              fix="export snapshots with `bench results --export` rather than by hand")
        records.append(Record.from_dict(item))
    return records
