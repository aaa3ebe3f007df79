"""Plan units, key them, skip finished ones, run the rest on an executor, write records.

    config -> plan (units) -> fingerprint (keys) -> resume filter -> execute -> records (MLflow)

``evaluate`` is what ``bench evaluate`` calls. Units are independent and picklable; executors only
map ``execute_unit`` over them, so the local loop and a distributed engine share every semantic
(keys, resume, failure isolation). Records are written by the driver as each unit finishes, so an
interrupted invocation loses at most the units in flight.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from bench import HARNESS_VERSION
from bench.config import Loaded, load_submission, load_task, spec_hash
from bench.config.schema import SubmissionSpec, TaskSpec
from bench.errors import BenchError, ConfigError
from bench.records.keys import code_version, unit_key
from bench.records.schema import Record
from bench.settings import Settings
from bench.tasks import Unit, task_kind


@dataclass(frozen=True)
class PlannedUnit:
    """A unit with its content key (or the reason it could not be keyed)."""

    unit: Unit
    key: str
    fingerprint: dict[str, str]
    error: str | None = None


@dataclass
class EvaluationReport:
    """What one invocation did."""

    planned: list[PlannedUnit] = field(default_factory=list)
    skipped: list[PlannedUnit] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    parent_run_id: str | None = None

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if not r.finished]

    def summary(self) -> str:
        done = sum(r.finished for r in self.records)
        return (f"{len(self.planned)} units planned: {len(self.skipped)} already finished (skipped), "
                f"{done} ran, {len(self.failed)} failed")


def plan_units(tasks: Sequence[TaskSpec], submissions: Sequence[SubmissionSpec], *,
               subjects: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> list[Unit]:
    """Every (task, submission, split, seed) the tasks demand, optionally restricted to ``subjects``/``seeds``."""
    units = []
    for task in tasks:
        kind = task_kind(task)
        if subjects:
            unknown = sorted(set(subjects) - set(task.dataset.subjects))
            if unknown:
                raise ConfigError(f"subjects {unknown} are not in task '{task.name}' (has {task.dataset.subjects})",
                                  field="--subjects", fix="choose among the task's subjects")
        if seeds:
            unknown = sorted(set(seeds) - set(task.seeds))
            if unknown:
                raise ConfigError(f"seeds {unknown} are not in task '{task.name}' (has {task.seeds})",
                                  field="--seeds", fix="choose among the task's seeds (the protocol fixes them)")
        for sub in submissions:
            kind.validate_submission(sub)
            for split, subject in kind.splits():
                if subjects and subject not in subjects:
                    continue
                for seed in task.seeds:
                    if seeds and seed not in seeds:
                        continue
                    units.append(Unit(task, sub, split, subject, seed))
    return units


def key_unit(unit: Unit, settings: Settings) -> PlannedUnit:
    """Compute the unit's content key from its specs, split, seed, data and weights checksums."""
    fp: dict[str, str] = {}
    error = None
    try:
        fp = task_kind(unit.task).fingerprint(unit, settings)
    except BenchError as exc:
        error = str(exc)
    except Exception as exc:  # a broken plug-in must not stop the plan
        error = f"{type(exc).__name__}: {exc}"
    key = unit_key(task_hash=spec_hash(unit.task), submission_hash=spec_hash(unit.submission), split=unit.split,
                   seed=unit.seed, data_checksum=fp.get("data_checksum", "unavailable"),
                   weights_checksum=fp.get("weights_checksum", "unavailable"))
    return PlannedUnit(unit, key, fp, error)


def execute_unit(planned: PlannedUnit, settings: Settings, progress: bool = False) -> Record:
    """Run one unit and return its record; any exception becomes a failed record (the plan goes on)."""
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
    start = time.perf_counter()
    try:
        out = task_kind(unit.task).run(unit, settings, progress=progress)
    except BenchError as exc:
        return Record(status="failed", error=str(exc), timings={"total": time.perf_counter() - start}, **base)
    except Exception as exc:
        tb = "".join(traceback.format_exception(exc)[-6:])
        return Record(status="failed", error=f"{type(exc).__name__}: {exc}\n{tb}",
                      timings={"total": time.perf_counter() - start}, **base)
    return Record(status="finished", metrics=out.metrics, per_item=out.per_item, curves=out.curves,
                  chosen_epoch=out.chosen_epoch, timings=out.timings, info=out.info, **base)


Executor = Callable[[list[PlannedUnit], Settings, bool], Iterator[Record]]


def local_executor(units: list[PlannedUnit], settings: Settings, progress: bool) -> Iterator[Record]:
    """Run units one after another in this process (the zero-dependency default)."""
    for planned in units:
        yield execute_unit(planned, settings, progress=progress)


def get_executor(name: str, **options) -> Executor:
    """``local`` or ``ray`` (the latter needs ``pip install .[ray]``)."""
    if name == "local":
        return local_executor
    if name == "ray":
        from bench.ray_executor import make_ray_executor

        return make_ray_executor(**options)
    raise ConfigError(f"unknown executor '{name}'", field="--executor", fix="use 'local' or 'ray'")


def resolve(submission_refs: Iterable[str], task_refs: Iterable[str] | None = None
            ) -> tuple[list[Loaded[TaskSpec]], list[Loaded[SubmissionSpec]]]:
    """Load submissions and the tasks to run (``task_refs`` or, by default, each submission's own tasks)."""
    subs = [load_submission(ref) for ref in submission_refs]
    names = list(task_refs or [])
    if not names:
        for s in subs:
            names += [t for t in s.spec.tasks if t not in names]
    tasks = [load_task(name) for name in names]
    return tasks, subs


def evaluate(submission_refs: Sequence[str], *, tasks: Sequence[str] | None = None,
             subjects: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
             settings: Settings, executor: str = "local", executor_options: dict | None = None,
             progress: bool = True, dry_run: bool = False) -> EvaluationReport:
    """Run every unit the tasks demand for the submissions, skipping finished ones; write records."""
    from tqdm.auto import tqdm

    from bench.records.mlflow_store import RecordStore

    loaded_tasks, loaded_subs = resolve(submission_refs, tasks)
    units = plan_units([t.spec for t in loaded_tasks], [s.spec for s in loaded_subs], subjects=subjects,
                       seeds=seeds)
    store = RecordStore(settings.tracking_uri)
    report = EvaluationReport()
    report.planned = [key_unit(u, settings) for u in tqdm(units, desc="keying units", disable=not progress,
                                                              leave=False)]
    finished = store.finished_keys()
    todo = []
    for p in report.planned:
        (report.skipped if p.key in finished and p.error is None else todo).append(p)
    if dry_run or not todo:
        return report
    report.parent_run_id = store.start_invocation(
        f"evaluate {' '.join(s.name for s in loaded_subs)}",
        {"submissions": ",".join(s.name for s in loaded_subs), "tasks": ",".join(t.name for t in loaded_tasks),
         "units_planned": str(len(report.planned)), "units_to_run": str(len(todo)),
         "harness_version": HARNESS_VERSION, "code_version": code_version()})
    run = get_executor(executor, **(executor_options or {}))
    bar = tqdm(total=len(todo), desc="units", unit="unit", disable=not progress, position=0)
    interrupted = False
    try:
        for record in run(todo, settings, progress):
            store.write(record, parent_run_id=report.parent_run_id)
            report.records.append(record)
            headline = record.task_spec.get("headline_metric", "top1")
            bar.set_postfix_str(f"{record.submission}/{record.split}/s{record.seed}: "
                                + (f"{headline}={record.metrics.get(headline, float('nan')):.3f}"
                                   if record.finished else "FAILED"))
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        store.end_invocation(report.parent_run_id,
                             {"units_finished": sum(r.finished for r in report.records),
                              "units_failed": len(report.failed), "units_skipped": len(report.skipped)},
                             failed=interrupted or bool(report.failed))
    return report
