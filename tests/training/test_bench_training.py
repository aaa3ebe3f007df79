"""ci/bench_training.py: its counters and its interleaved measurement, on a tiny size (keeps it from rotting)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "ci" / "bench_training.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_training"] = module
    spec.loader.exec_module(module)
    return module


def test_flop_and_byte_counters_on_known_ops(bench):
    a, b = torch.randn(256, 512), torch.randn(512, 1024)
    assert bench.count_flops(lambda: a @ b) == 2 * 256 * 512 * 1024
    x, y = torch.randn(1 << 19), torch.randn(1 << 19)          # 2 MiB each
    assert bench.count_bytes(lambda: x + y) == 3 * (1 << 21)   # read two, write one
    assert bench.count_bytes(lambda: x.view(512, 1024).t()) == 0   # views move nothing
    small = torch.randn(1000)
    assert bench.count_bytes(lambda: small * 2) == 0           # below the 1 MiB threshold: stays in cache


def test_tiny_run_reports_both_floors_and_the_published_ratio(bench):
    shape = {"n_chans": 8, "n_times": 100, "sfreq": 100.0}
    result = bench.run(["nice", "eegnet"], ["fp32"], [1], torch.device("cpu"), shape, batch=4, rounds=2,
                       gemm_n=256, copy_mib=8, verbose=False, min_bytes=1024)
    rows = {r["encoder"]: r for r in result["runs"]}
    assert set(rows) == {"nice", "eegnet"}
    for r in rows.values():
        assert r["step_s"] > 0 and r["flops"] > 0 and r["bytes"] > 0
        assert r["roofline_floor_s"] == max(r["flop_floor_s"], r["byte_floor_s"])
        assert r["ours_over_flop_floor"] == pytest.approx(r["step_s"] / r["flop_floor_s"])
        assert r["ours_over_roofline"] <= r["ours_over_flop_floor"]
        assert r["timer"] == "thread CPU time"
    nice = rows["nice"]
    # the floor uses the fewest FLOPs over formulations; the literal ops do more
    assert nice["floor_flops"] <= nice["flops"] and nice["floor_flops"] < nice["published_flops"]
    assert nice["ours_over_published"] == pytest.approx(nice["step_s"] / nice["published_step_s"])
    assert "published_step_s" not in rows["eegnet"]
    assert result["probes"][0]["peak_flops"]["fp32"] > 1e8 and result["probes"][0]["bandwidth"] > 1e7
    assert torch.get_num_threads() >= 1


@pytest.mark.slow
def test_quick_mode_end_to_end(tmp_path, bench):
    out = tmp_path / "b.json"
    result = bench.main(["--quick", "--encoders", "nice", "--dtypes", "fp32", "--json", str(out)])
    assert out.is_file() and result["runs"][0]["encoder"] == "nice"
