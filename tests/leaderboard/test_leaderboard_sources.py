"""Building from snapshots and from MLflow, importing snapshots into a store, and the `bench leaderboard` CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.leaderboard import build_site, build_site_from_mlflow, build_site_from_snapshot, import_into_store
from bench.records.mlflow_store import RecordStore
from bench.records.snapshot import export_snapshot, import_snapshot
from tests.leaderboard.factory import make_board, task_spec


@pytest.fixture(scope="module")
def small_records():
    task = task_spec(subjects=(1, 2), seeds=(0, 1))
    recs = make_board({"nice_dreamsim": ("nice_dreamsim", 0.5), "nice_clip": ("nice_clip", 0.3)}, task=task, seed=2)
    for r in recs:
        r.curves = {}                     # keeps the store's per-run figure (and the test) fast
    return recs


@pytest.fixture(scope="module")
def direct(small_records, tmp_path_factory):
    out = tmp_path_factory.mktemp("direct") / "site"
    build_site(small_records, out, n_boot=100)
    return out


def _entries(site):
    data = json.loads((site / "leaderboard.json").read_text())
    return [(e["submission"], e["tier"], round(e["mean"], 12), e["n_units"]) for t in data["tasks"] for e in t["entries"]]


def test_snapshot_round_trip_builds_the_same_tables(small_records, direct, tmp_path):
    snap = export_snapshot(small_records, tmp_path / "results.json")
    from_snap = tmp_path / "from-snapshot"
    build_site_from_snapshot(snap, from_snap, n_boot=100)
    assert _entries(from_snap) == _entries(direct)
    assert "results last updated" in (from_snap / "index.html").read_text()      # the snapshot's creation time


def test_mlflow_import_build_and_cli(small_records, direct, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = RecordStore(uri)
    half = small_records[: len(small_records) // 2]
    for r in half:
        store.write(r)
    snap = export_snapshot(small_records, tmp_path / "all.json")

    report = import_into_store(import_snapshot(snap), uri)
    assert len(report.written) == len(small_records) - len(half) and len(report.already_present) == len(half)
    assert import_into_store(import_snapshot(snap), uri).written == []         # idempotent by key

    site = tmp_path / "from-mlflow"
    build_site_from_mlflow(uri, site, n_boot=100)
    assert _entries(site) == _entries(direct)
    assert "results last updated" in (site / "index.html").read_text()

    runner = CliRunner()
    exported = tmp_path / "snaps" / "exported.json"
    res = runner.invoke(app, ["leaderboard", "export", "--out", str(exported), "--tracking-uri", uri])
    assert res.exit_code == 0 and f"wrote {len(small_records)} records" in res.output
    out = tmp_path / "cli-site"
    res = runner.invoke(app, ["leaderboard", "build", "--out", str(out), "--snapshot", str(exported.parent),
                              "--correction", "bh", "--bootstrap", "100"])           # a folder of snapshots
    assert res.exit_code == 0, res.output
    assert _entries(out) == _entries(direct)
    assert "Benjamini" in (out / "about.html").read_text()
    res = runner.invoke(app, ["leaderboard", "import", str(exported), "--tracking-uri", uri])
    assert res.exit_code == 0 and f"{len(small_records)} already in the store" in res.output


def test_cli_rejects_unknown_correction(tmp_path):
    res = CliRunner().invoke(app, ["leaderboard", "build", "--out", str(tmp_path / "x"), "--snapshot",
                                   str(tmp_path / "missing.json"), "--correction", "bonferroni"])
    assert res.exit_code != 0 and "correction" in str(res.exception)
