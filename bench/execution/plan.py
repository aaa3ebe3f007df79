"""The plan: load specs, list the units they demand, key each unit by content.

    submissions + tasks -> resolve -> plan_units -> key_unit (content key, or why it cannot run)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from bench.config import Loaded, load_submission, load_task, spec_hash
from bench.config.schema import SubmissionSpec, TaskSpec
from bench.errors import BenchError, ConfigError
from bench.records.keys import unit_key
from bench.settings import Settings
from bench.tasks import Unit, task_kind


@dataclass(frozen=True)
class PlannedUnit:
    """A unit with its content key (or the reason it could not be keyed).

    run_id: the MLflow run created when the unit started (set by the driver once it holds the
            unit's claim; workers log live curves into it).
    """

    unit: Unit
    key: str
    fingerprint: dict[str, str]
    error: str | None = None
    run_id: str | None = None


def plan_units(tasks: Sequence[TaskSpec], submissions: Sequence[SubmissionSpec], *,
               subjects: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
               pairs: set[tuple[str, str]] | None = None) -> list[Unit]:
    """Every (task, submission, split, seed) the tasks demand, optionally restricted to ``subjects``/``seeds``
    and to the (task name, submission name) ``pairs`` (None: every submission on every task)."""
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
            if pairs is not None and (task.name, sub.name) not in pairs:
                continue
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


def resolve(submission_refs: Iterable[str], task_refs: Iterable[str] | None = None
            ) -> tuple[list[Loaded[TaskSpec]], list[Loaded[SubmissionSpec]], set[tuple[str, str]] | None]:
    """Load submissions and the tasks to run: ``task_refs`` for every submission or, by default, each
    submission's own tasks.

    Returns ``(tasks, submissions, pairs)``: ``pairs`` is the set of (task name, submission name) to
    run, or None when every submission runs every task (``task_refs`` given).
    """
    subs = [load_submission(ref) for ref in submission_refs]
    explicit = list(task_refs or [])
    if explicit:
        return [load_task(name) for name in explicit], subs, None
    by_ref: dict[str, Loaded[TaskSpec]] = {}
    pairs: set[tuple[str, str]] = set()
    for s in subs:
        for ref in s.spec.tasks:
            if ref not in by_ref:
                by_ref[ref] = load_task(ref)
            pairs.add((by_ref[ref].spec.name, s.spec.name))
    return list(by_ref.values()), subs, pairs


def plan(submission_refs: Iterable[str], task_refs: Iterable[str] | None = None, *,
         subjects: Sequence[int] | None = None, seeds: Sequence[int] | None = None
         ) -> tuple[list[Loaded[TaskSpec]], list[Loaded[SubmissionSpec]], list[Unit]]:
    """:func:`resolve` then :func:`plan_units`: the loaded tasks and submissions and the units to run."""
    tasks, subs, pairs = resolve(submission_refs, task_refs)
    units = plan_units([t.spec for t in tasks], [s.spec for s in subs], subjects=subjects, seeds=seeds, pairs=pairs)
    return tasks, subs, units


__all__ = ["PlannedUnit", "key_unit", "plan", "plan_units", "resolve"]
