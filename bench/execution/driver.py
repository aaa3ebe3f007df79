"""``evaluate``: plan, key, skip finished units, claim and run the rest on an executor, write records.

    config -> plan (units) -> keys -> resume filter -> claim -> start run -> execute -> record -> release

At start-up, RUNNING unit and invocation runs whose heartbeat expired are marked KILLED (their
process died). Each unit is claimed in the store just before it is handed to the executor; a unit
claimed live by another worker (a process, a Ray driver, another machine) is left to it, an
expired claim is taken over. The unit's MLflow run is created when it starts and its per-epoch
metrics are logged as they happen; the record completes the run when the unit ends, then the claim
is released. An interrupted invocation marks its in-flight units KILLED and releases their claims.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

from bench import HARNESS_VERSION
from bench.data import last_read
from bench.execution.executors import get_executor
from bench.execution.plan import PlannedUnit, key_unit, plan
from bench.records.claims import Claim, Heartbeat
from bench.records.keys import code_version
from bench.records.schema import Record
from bench.settings import Settings


@dataclass
class EvaluationReport:
    """What one invocation did."""

    planned: list[PlannedUnit] = field(default_factory=list)
    skipped: list[PlannedUnit] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    busy: list[PlannedUnit] = field(default_factory=list)       # left to another worker's live claim
    claims: dict[str, Claim] = field(default_factory=dict)      # --dry-run: current claims on planned keys
    reaped: list[str] = field(default_factory=list)             # run ids marked KILLED at start-up
    parent_run_id: str | None = None

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if not r.finished]

    def summary(self) -> str:
        done = sum(r.finished for r in self.records)
        text = (f"{len(self.planned)} units planned: {len(self.skipped)} already finished (skipped), "
                f"{done} ran, {len(self.failed)} failed")
        if self.busy:
            text += f", {len(self.busy)} left to other workers (claimed)"
        return text


def evaluate(submission_refs: Sequence[str], *, tasks: Sequence[str] | None = None,
             subjects: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
             settings: Settings, executor: str = "local", executor_options: dict | None = None,
             jobs: int = 1, progress: bool = True, dry_run: bool = False,
             planned: Sequence[PlannedUnit] | None = None) -> EvaluationReport:
    """Run every unit the tasks demand for the submissions, skipping finished ones; write records.

    jobs: with the local executor, units run in this many processes at once (one torch thread each).
    planned: the plan's units already keyed, in plan order (``bench evaluate`` passes its preflight's,
    so that no file is stat-ed and no key computed twice); None: key them here.
    """
    from tqdm.auto import tqdm

    from bench.records.mlflow_store import RecordStore

    loaded_tasks, loaded_subs, units = plan(submission_refs, tasks, subjects=subjects, seeds=seeds)
    store = RecordStore(settings.tracking_uri, lease_s=settings.claim_lease_s)
    report = EvaluationReport()
    report.reaped = store.reap()
    if planned is not None:
        if [p.unit.label for p in planned] != [u.label for u in units]:
            raise ValueError("planned units do not match this plan (same submissions, tasks, subjects, seeds?)")
        report.planned = list(planned)
    else:
        report.planned = [key_unit(u, settings)
                          for u in tqdm(units, desc="checking which units are already done", disable=not progress,
                                        leave=False)]
    finished = store.finished_keys()
    todo: list[PlannedUnit] = []
    for p in report.planned:
        (report.skipped if p.key in finished and p.error is None else todo).append(p)
    if dry_run:
        keys = {p.key for p in todo}
        report.claims = {k: c for k, c in store.claims.all().items() if k in keys}
        return report
    if not todo:
        return report
    report.parent_run_id = store.start_invocation(
        f"evaluate {' '.join(s.name for s in loaded_subs)}",
        {"submissions": ",".join(s.name for s in loaded_subs), "tasks": ",".join(t.name for t in loaded_tasks),
         "units_planned": str(len(report.planned)), "units_to_run": str(len(todo)),
         "harness_version": HARNESS_VERSION, "code_version": code_version()})
    heartbeat = Heartbeat(store.claims).start()
    heartbeat.add_run(report.parent_run_id)
    held: dict[str, tuple[Claim, str]] = {}
    queue = deque(todo)
    bar = tqdm(total=len(todo), desc="units", unit="unit", disable=not progress, position=0)

    def feed() -> PlannedUnit | None:
        """The next unit this invocation may run: claimed, re-checked, its run started."""
        while queue:
            planned = queue.popleft()
            claim = store.claims.try_claim(planned.key, planned.unit.label)
            if claim is None:
                report.busy.append(planned)
                bar.update(1)
                continue
            if planned.error is None and store.is_finished(planned.key):  # finished since we planned
                store.claims.release(claim)
                report.skipped.append(planned)
                bar.update(1)
                continue
            unit = planned.unit
            run_id = store.start_unit(key=planned.key, task=unit.task.name, submission=unit.submission.name,
                                      split=unit.split, subject=unit.subject, seed=unit.seed,
                                      parent_run_id=report.parent_run_id, claim_token=claim.token)
            heartbeat.add_claim(claim)
            heartbeat.add_run(run_id)
            held[planned.key] = (claim, run_id)
            return dataclasses.replace(planned, run_id=run_id)
        return None

    effective_jobs = max(1, min(jobs, len(todo)))
    run = get_executor(executor, **({"jobs": effective_jobs} if executor == "local" else {}),
                       **(executor_options or {}))
    interrupted = False
    try:
        for record in run(feed, settings, progress and effective_jobs == 1 and executor == "local"):
            claim, run_id = held.pop(record.key)
            try:
                store.write(record, parent_run_id=report.parent_run_id, run_id=run_id)
            finally:
                heartbeat.drop_run(run_id)
                heartbeat.drop_claim(claim)
                store.claims.release(claim)
            report.records.append(record)
            headline = record.task_spec.get("headline_metric", "top1")
            bar.set_postfix_str(f"{record.submission}/{record.split}/s{record.seed}: "
                                + (f"{headline}={record.metrics.get(headline, float('nan')):.3f}"
                                   if record.finished else "FAILED"))
            bar.update(1)
    except BaseException:
        interrupted = True
        raise
    finally:
        bar.close()
        last_read.clear()   # the signals kept for the next unit of a subject: no unit is next
        for claim, run_id in held.values():
            store.abandon_unit(run_id, "the bench evaluate that ran it was interrupted before the record was written")
            heartbeat.drop_run(run_id)
            store.claims.release(claim)
        heartbeat.stop()
        store.end_invocation(report.parent_run_id,
                             {"units_finished": sum(r.finished for r in report.records),
                              "units_failed": len(report.failed), "units_skipped": len(report.skipped),
                              "units_left_to_others": len(report.busy)},
                             status="KILLED" if interrupted else ("FAILED" if report.failed else "FINISHED"))
    return report


__all__ = ["EvaluationReport", "evaluate"]
