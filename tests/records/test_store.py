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
