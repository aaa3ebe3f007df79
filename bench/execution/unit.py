"""Run one planned unit and turn its outcome -- or its exception -- into a :class:`Record`.

Every executor (local loop, process pool, Ray task) calls :func:`execute_unit`, so keys, failure
isolation and live tracking are the same wherever a unit runs.
"""

from __future__ import annotations

import dataclasses
import time
import traceback

from bench import HARNESS_VERSION
from bench.config import spec_hash
from bench.errors import BenchError
from bench.execution.plan import PlannedUnit
from bench.records.keys import code_version
from bench.records.schema import Record
from bench.settings import Settings
from bench.tasks import task_kind


def execute_unit(planned: PlannedUnit, settings: Settings, progress: bool = False) -> Record:
    """Run one unit and return its record; any exception becomes a failed record (the plan goes on).

    When the driver started the unit's MLflow run (``planned.run_id``), per-epoch metrics are logged
    into it as they happen (:class:`bench.records.mlflow_store.LiveLog`).
    """
    unit = planned.unit
    provenance = {"harness_version": HARNESS_VERSION, "code_version": code_version(),
                  "task_hash": spec_hash(unit.task), "submission_hash": spec_hash(unit.submission),
                  "config_hash": planned.key, **planned.fingerprint}
    base = dict(key=planned.key, task=unit.task.name, submission=unit.submission.name, split=unit.split,
                subject=unit.subject, seed=unit.seed, task_spec=unit.task.model_dump(mode="json"),
                submission_spec=unit.submission.model_dump(mode="json"), provenance=provenance)
    if planned.error:
        return Record(status="failed", error=planned.error, **base)
    if settings.num_threads:
        import torch

        torch.set_num_threads(settings.num_threads)
    on_epoch = None
    if planned.run_id:
        from bench.records.mlflow_store import LiveLog

        on_epoch = LiveLog(settings.tracking_uri, planned.run_id)
    start = time.perf_counter()
    try:
        out = task_kind(unit.task).run(unit, settings, progress=progress, on_epoch=on_epoch)
    except Exception as exc:
        if on_epoch is not None:   # a failed record carries no curves: the epochs it did run stay in its run
            on_epoch.flush()
        if isinstance(exc, BenchError):
            return Record(status="failed", error=str(exc), timings={"total": time.perf_counter() - start}, **base)
        tb = "".join(traceback.format_exception(exc)[-6:])
        return Record(status="failed", error=f"{type(exc).__name__}: {exc}\n{tb}",
                      timings={"total": time.perf_counter() - start}, **base)
    return Record(status="finished", metrics=out.metrics, per_item=out.per_item, curves=out.curves,
                  chosen_epoch=out.chosen_epoch, timings=out.timings, info=out.info, **base)


def failed_record(planned: PlannedUnit, settings: Settings, error: str) -> Record:
    """The failed record of a unit that could not report itself (its worker died, the task was lost ...)."""
    return execute_unit(dataclasses.replace(planned, error=error, run_id=None), settings, progress=False)


__all__ = ["execute_unit", "failed_record"]
