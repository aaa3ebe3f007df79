"""Unit functions for the Ray executor's failure-isolation test (imported by Ray workers)."""

from __future__ import annotations

import os

from bench.records.schema import Record


def crashing_unit(planned, settings) -> Record:
    """seed 1: the worker process dies; seed 2: the task raises; otherwise a finished record."""
    unit = planned.unit
    if unit.seed == 1:
        os._exit(7)
    if unit.seed == 2:
        raise RuntimeError("boom inside the Ray task")
    return Record(key=planned.key, task=unit.task.name, submission=unit.submission.name, split=unit.split,
                  subject=unit.subject, seed=unit.seed, status="finished", task_spec={}, submission_spec={},
                  metrics={"top1": unit.seed / 10, "num_threads": float(settings.num_threads or 0)})
