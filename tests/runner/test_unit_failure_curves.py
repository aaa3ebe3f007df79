"""A unit that fails after some epochs keeps those epochs' curve points in its MLflow run."""

from __future__ import annotations

from bench.config import load_submission, load_task
from bench.execution.plan import PlannedUnit, plan_units
from bench.execution.unit import execute_unit
from bench.records.mlflow_store import RecordStore
from tests.tuning.tiny import write_tiny_plan


class _FailsAtEpochThree:
    """A task kind whose run reports two epochs, then raises (as a diverging training would)."""

    def run(self, unit, settings, progress=False, on_epoch=None, **_):
        for epoch in (1, 2):
            on_epoch(epoch, {"val_loss": 3.0 - epoch / 10})
        raise RuntimeError("loss is NaN in epoch 3")


def test_failed_unit_flushes_its_buffered_epochs(tmp_path, tiny_cache, tracking_uri, monkeypatch):
    plan = write_tiny_plan(tmp_path / "specs", tiny_cache)
    task, sub = load_task(plan.task).spec, load_submission(plan.submission).spec
    unit = plan_units([task], [sub])[0]
    store = RecordStore(tracking_uri)
    run_id = store.start_unit(key="k", task=task.name, submission=sub.name, split=unit.split,
                              subject=unit.subject, seed=unit.seed)
    monkeypatch.setattr("bench.execution.unit.task_kind", lambda _task: _FailsAtEpochThree())
    record = execute_unit(PlannedUnit(unit, "k", {}, run_id=run_id), plan.settings(tracking_uri))
    assert record.status == "failed" and "NaN in epoch 3" in record.error
    history = store.client.get_metric_history(run_id, "curve/val_loss")
    assert sorted((m.step, m.value) for m in history) == [(1, 2.9), (2, 2.8)]
