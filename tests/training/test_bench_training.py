"""The training benchmark script runs end to end (--quick) and reports its ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_training_quick(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "ci" / "bench_training.py"), "--quick", "--encoders", "nice",
                           "--threads", "1", "--json", str(out)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ours/naive" in proc.stdout and "ours/floor" in proc.stdout
    result = json.loads(out.read_text())
    assert {(r["encoder"], r["size"]) for r in result["runs"]} == {("nice", "small")}
    for run in result["runs"]:
        assert run["ours_epoch_s"] > 0 and run["floor_epoch_s"] > 0 and run["naive_epoch_s"] > 0
        assert run["flops_per_step"] <= run["flops_per_step_composed"] <= run["flops_per_step_literal"]
        assert {"literal", "composed", "fast"} <= set(run["variants"])
