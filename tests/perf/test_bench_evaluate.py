"""ci/bench_evaluate.py: the split of an invocation's wall time from the records' timings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_evaluate", ROOT / "ci" / "bench_evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shares_add_up_and_match_a_hand_computation(bench):
    units = [{"load_train": 1.0, "embed_train_images": 2.0, "train": 30.0, "evaluate": 1.0, "total": 35.0},
             {"load_train": 0.5, "embed_train_images": 0.0, "train": 28.0, "evaluate": 0.5, "total": 29.5}]
    r = bench.shares(70.0, units)
    assert r["train_s"] == 58.0 and r["unit_other_s"] == pytest.approx(1.5)
    assert r["outside_units_s"] == pytest.approx(70.0 - 64.5)
    assert r["non_training_share"] == pytest.approx(12.0 / 70.0)
    parts = ["load_train", "embed_train_images", "train", "evaluate", "unit_other", "outside_units"]
    assert sum(r[p + "_share"] for p in parts) == pytest.approx(1.0)
    assert (r["unit_min_s"], r["unit_median_s"], r["unit_max_s"]) == (29.5, 32.25, 35.0)


def test_units_without_total_and_bad_wall(bench):
    r = bench.shares(10.0, [{"train": 6.0, "evaluate": 1.0}])
    assert r["unit_other_s"] == 0.0 and r["outside_units_s"] == pytest.approx(3.0)
    assert r["unit_max_s"] == 7.0 and "unit_max_s" not in bench.shares(1.0, [])
    with pytest.raises(ValueError):
        bench.shares(0.0, [])


def test_projected_share_extrapolates_the_marginal_unit_cost(bench):
    # the slowest unit (12 s) pays the one-off costs; the others: 4 s each, 3 s of it training
    units = [{"train": 5.0, "total": 12.0}, {"train": 3.0, "total": 4.0}, {"train": 3.0, "total": 4.0}]
    wall = 23.0                                    # 3 s outside the units: 1 s per unit
    r = bench.projected_share(wall, units, 50)
    assert r["per_unit_train_s"] == 3.0 and r["per_unit_non_training_s"] == pytest.approx(2.0)
    assert r["fixed_s"] == pytest.approx((23.0 - 11.0) - 3 * 2.0)   # non-training 12 s, 6 s of it marginal
    assert r["projected_share"] == pytest.approx((12.0 + 47 * 2.0) / (23.0 + 47 * 5.0))
    # at the plan's own size it gives back the measured share
    assert bench.projected_share(wall, units, 3)["projected_share"] == pytest.approx(12.0 / 23.0)
    assert bench.projected_share(wall, units[:1], 50) == {}


def test_training_counts_only_the_epochs(bench):
    # the training phase holds 2 s of set-up (model, optimizer, its dynamo import, live logging)
    units = [{"train": 30.0, "epochs": 28.0, "evaluate": 1.0, "total": 31.0},
             {"train": 20.0, "epochs": 19.5, "evaluate": 1.0, "total": 21.0}]
    r = bench.shares(60.0, units)
    assert r["epochs_s"] == 47.5 and r["train_setup_s"] == pytest.approx(2.5)
    assert r["non_training_share"] == pytest.approx(12.5 / 60.0)
    parts = ["load_train", "embed_train_images", "epochs", "train_setup", "evaluate", "unit_other", "outside_units"]
    assert sum(r[p + "_share"] for p in parts) == pytest.approx(1.0)
    p = bench.projected_share(60.0, units, 2)
    assert p["projected_share"] == pytest.approx(12.5 / 60.0) and p["per_unit_train_s"] == 19.5


def test_quietest_round_is_the_shortest_invocation_with_the_rounds_range(bench):
    rounds = [bench.shares(wall, [{"train": 10.0, "epochs": epochs, "total": 11.0}])
              for wall, epochs in [(14.0, 10.0), (12.0, 9.5), (16.0, 9.0)]]
    best = bench.quietest(rounds)
    assert best["wall_s"] == 12.0 and best["non_training_share"] == pytest.approx(2.5 / 12.0)
    assert best["rounds"] == 3.0
    assert (best["share_min"], best["share_median"], best["share_max"]) == pytest.approx(
        (2.5 / 12.0, 4.0 / 14.0, 7.0 / 16.0))
    assert "rounds" not in rounds[1]                     # the rounds themselves are left as they were
    with pytest.raises(ValueError):
        bench.quietest([])


def test_read_store_adds_the_epochs_from_the_curves(bench, tracking_uri):
    import time

    from bench.records.mlflow_store import RecordStore
    from bench.records.schema import Record

    store = RecordStore(tracking_uri)
    client = store.client
    parent = client.create_run(store.experiment_id, tags={"bench.kind": "invocation"}).info.run_id
    time.sleep(0.01)
    record = Record(key="k1", task="t", submission="s", split="sub-01", subject=1, seed=0, status="finished",
                    task_spec={}, submission_spec={}, metrics={"top1": 0.5}, curves={"epoch_seconds": [1.5, 2.0]},
                    timings={"train": 4.0, "total": 5.0})
    store.write(record, parent_run_id=parent)
    client.set_terminated(parent)
    wall, timings, got = bench.read_store(tracking_uri)
    assert got == parent and wall >= 0
    assert timings == [{"train": 4.0, "total": 5.0, "epochs": 3.5, "n_epochs": 2.0, "subject": 1.0, "seed": 0.0}]
