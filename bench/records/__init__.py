"""Unit records: their schema, content keys, the MLflow store, JSON snapshots, unit claims and store URIs.

    schema.py        Record                         keys.py     unit_key, code_version
    mlflow_store.py  RecordStore, LiveLog           snapshot.py export/import snapshots
    claims.py        ClaimBook, Heartbeat (leases)  uris.py     normalise, identity, redact
"""

from bench.records.keys import unit_key
from bench.records.schema import Record

__all__ = ["Record", "unit_key"]
