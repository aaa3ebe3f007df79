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
