"""``bench analyze factorial`` from a snapshot: the table, JSON, the plot; a refused design is a clean error."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from bench.cli import app
from bench.records.snapshot import export_snapshot
from tests.analysis.records import factorial_records


def test_analyze_factorial_cli(tmp_path):
    snap = export_snapshot(factorial_records(np.random.default_rng(0), image_effect=0.05), tmp_path / "snap.json")
    plot = tmp_path / "plot.png"
    res = CliRunner().invoke(app, ["analyze", "factorial", "--task", "t-demo", "--snapshot", str(snap),
                                   "--plot", str(plot), "--out", str(tmp_path / "f.json")])
    assert res.exit_code == 0, res.output
    assert "image_model: F(1, 7)" in res.output and "significant" in res.output and plot.is_file()
    data = json.loads((tmp_path / "f.json").read_text())
    assert {e["term"] for e in data["effects"]} == {"encoder", "image_model", "encoder:image_model"}
    assert data["levels"]["encoder"] == ["atm-s", "nice"]


def test_analyze_factorial_refuses_an_incomplete_design(tmp_path):
    records = [r for r in factorial_records(np.random.default_rng(0)) if r.submission != "nice-random-convnet"]
    snap = export_snapshot(records, tmp_path / "snap.json")
    res = CliRunner().invoke(app, ["analyze", "factorial", "--task", "t-demo", "--snapshot", str(snap)])
    assert res.exit_code != 0
    assert isinstance(res.exception, Exception) and "has no complete entry" in str(res.exception)


def test_leaderboard_verify_writes_its_file_beside_the_snapshot(tmp_path):
    """Records whose keys do not follow from their embedded specs are refused (exit 1), and the refusal is
    written beside the snapshot, where the leaderboard reads it as 'unverified (...)'."""
    from bench.analysis.verify import attach_verification, entry_verification

    records = factorial_records(np.random.default_rng(0))[:3]
    snap = export_snapshot(records, tmp_path / "snap.json")
    res = CliRunner().invoke(app, ["leaderboard", "verify", str(snap), "--sample", "1"])
    assert res.exit_code == 1, res.output
    assert "unverified (3 records with a key that does not match their specs)" in res.output
    written = json.loads((tmp_path / "snap.json.verification.json").read_text())
    assert written["verified"] is False and len(written["key_mismatches"]) == 3 and written["snapshot"] == "snap.json"
    from bench.records.snapshot import import_snapshot

    shown = entry_verification(attach_verification(import_snapshot(snap), snap))
    assert shown.startswith("unverified (3 records")
