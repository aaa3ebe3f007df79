"""`bench store prune`: failed/killed and superseded runs are listed (dry run) and deleted; finished current
records stay. `bench store claims` lists live claims."""

from __future__ import annotations

import dataclasses
import time

from typer.testing import CliRunner

from bench.cli import app
from bench.records.mlflow_store import RecordStore
from tests.records.factory import make_records


def _bench(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_prune_failed_and_stale(tracking_uri):
    store = RecordStore(tracking_uri)
    base = make_records({"a": 0.4}, subjects=(1,), seeds=(0,))[0]
    base.curves = {}
    old = dataclasses.replace(base, key="k-old")                           # superseded key of the same unit
    dup = dataclasses.replace(base, key="k-new")
    new = dataclasses.replace(base, key="k-new")
    failed = dataclasses.replace(base, key="k-fail", split="sub-02", subject=2, status="failed", error="boom\nline 2")
    ids = {}
    for name, rec in (("old", old), ("dup", dup), ("failed", failed)):
        ids[name] = store.write(rec)
        time.sleep(0.02)
    ids["new"] = store.write(new)
    killed = store.start_unit(key="k-kill", task="toy-task", submission="a", split="sub-03", subject=3, seed=0)
    store.abandon_unit(killed, "interrupted")
    running = store.start_unit(key="k-run", task="toy-task", submission="a", split="sub-04", subject=4, seed=0)

    out = _bench("store", "prune", "--dry-run", "--tracking-uri", tracking_uri)
    assert "4 run(s) would be deleted" in out
    assert f"{ids['failed']}" in out and "failed: boom" in out
    assert f"{killed}" in out and "killed: interrupted" in out
    assert f"{ids['old']}" in out and "superseded by key k-new" in out
    assert f"{ids['dup']}" in out and "duplicate of a newer finished run" in out
    assert ids["new"] not in out and running not in out                   # current and running runs stay
    assert len(store._search("tags.`bench.kind` = 'unit'")) == 6          # dry run deleted nothing

    out = _bench("store", "prune", "--failed", "--tracking-uri", tracking_uri)
    assert "deleted 2 run(s)" in out
    left = {r.info.run_id for r in store._search("tags.`bench.kind` = 'unit'")}
    assert left == {ids["old"], ids["dup"], ids["new"], running}

    out = _bench("store", "prune", "--stale", "--tracking-uri", tracking_uri)
    assert "deleted 2 run(s)" in out
    assert {r.info.run_id for r in store._search("tags.`bench.kind` = 'unit'")} == {ids["new"], running}
    assert [r.key for r in store.records()] == ["k-new"]


def test_claims_listing(tracking_uri):
    store = RecordStore(tracking_uri)
    store.claims.try_claim("abcdef0123456789", "a · toy-task · sub-01 · seed 0")
    out = _bench("store", "claims", "--tracking-uri", tracking_uri)
    assert "abcdef012345  a · toy-task · sub-01 · seed 0  [claimed by" in out and "1 claim(s)" in out
