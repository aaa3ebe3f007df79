"""Unit records: their schema, content keys, the MLflow store and JSON snapshots."""

from bench.records.keys import unit_key
from bench.records.schema import Record

__all__ = ["Record", "unit_key"]
