"""MLflow record store: write/read round trip, tags/params/metrics/artifacts, resume keys; snapshots."""

from __future__ import annotations

import json

import pytest

from bench.errors import RecordError
from bench.records.mlflow_store import RecordStore
from bench.records.snapshot import export_snapshot, import_snapshot
from tests.records.factory import make_records


@pytest.fixture
def store(tracking_uri):
    return RecordStore(tracking_uri)


def test_round_trip_and_run_contents(store, tmp_path):
    recs = make_records({"a": 0.4}, subjects=(1, 2), seeds=(0,))
    parent = store.start_invocation("test")
    for r in recs:
        store.write(r, parent_run_id=parent)
    store.end_invocation(parent, {"units_finished": 2})
    back = store.records(task="toy-task")
    assert [r.key for r in back] == [r.key for r in recs]
    assert back[0].per_item == recs[0].per_item and back[0].metrics == recs[0].metrics
    assert store.finished_keys() == {r.key for r in recs}

    run = store.client.get_run(back[0].run_id)
    tags = run.data.tags
    assert tags["bench.key"] == recs[0].key and tags["bench.status"] == "finished"
    assert tags["mlflow.parentRunId"] == parent and tags["bench.seed"] == "0"
    assert run.data.params["task.dataset.name"] == "things-eeg2"
    assert run.data.metrics["top1"] == pytest.approx(recs[0].metrics["top1"])
    history = store.client.get_metric_history(run.info.run_id, "curve/val_loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == recs[0].curves["val_loss"]
    assert run.data.metrics["chosen_epoch"] == recs[0].chosen_epoch == 2
    artifacts = {a.path for a in store.client.list_artifacts(run.info.run_id)}
    assert {"record.json", "per_item.csv", "task.yaml", "submission.yaml"} <= artifacts


def test_failed_records_do_not_count_as_finished(store):
    rec = make_records({"a": 0.4}, subjects=(1,), seeds=(0,))[0]
    rec.status, rec.error = "failed", "boom"
    store.write(rec)
    assert store.finished_keys() == set()
    assert store.records() == []
    assert store.records(include_failed=True)[0].error == "boom"


def test_unreachable_store_error():
    with pytest.raises(RecordError, match="tracking-uri"):
        RecordStore("http://127.0.0.1:9/").finished_keys()


def test_snapshot_round_trip_and_schema_errors(tmp_path):
    recs = make_records({"a": 0.4, "b": 0.3}, subjects=(1, 2), seeds=(0, 1))
    path = export_snapshot(recs, tmp_path / "snap.json")
    back = import_snapshot(path)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in recs]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "other"}))
    with pytest.raises(RecordError, match="not a brainvis-bench results snapshot"):
        import_snapshot(bad)
    data = json.loads(path.read_text())
    del data["records"][1]["key"]
    bad.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"record 1 lacks \['key'\]"):
        import_snapshot(bad)


def test_live_log_writes_the_first_epoch_at_once_then_batches(store):
    """LiveLog: epoch 1 at once; later epochs buffered within the interval, each with its own step and
    timestamp; flush writes them (a failed unit's epochs are not lost)."""
    import time

    from bench.records.mlflow_store import LiveLog

    run_id = store.client.create_run(store.experiment_id).info.run_id
    live = LiveLog(store.tracking_uri, run_id, min_interval_s=3600)

    def steps() -> list[int]:
        return sorted(m.step for m in store.client.get_metric_history(run_id, "curve/val_loss"))

    live(1, {"val_loss": 3.0, "lr": 1e-3, "bad": float("nan")})
    assert steps() == [1]
    for epoch in (2, 3):
        time.sleep(0.01)
        live(epoch, {"val_loss": 3.0 - epoch / 10})
    assert steps() == [1]                               # inside the interval: buffered
    live.flush()
    history = sorted(store.client.get_metric_history(run_id, "curve/val_loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(1, 3.0), (2, 2.8), (3, 2.7)]
    assert history[0].timestamp < history[1].timestamp < history[2].timestamp
    assert "curve/bad" not in store.client.get_run(run_id).data.metrics

    eager = LiveLog(store.tracking_uri, run_id, min_interval_s=0.0)
    eager(4, {"val_loss": 2.6})
    assert steps() == [1, 2, 3, 4]
