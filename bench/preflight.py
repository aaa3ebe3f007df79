"""One check before any unit runs: every distinct problem reported once, with its fix.

    check = preflight(["submissions/atm_dreamsim.yaml"], settings=settings)
    if not check.ok:
        print(check.describe())          # each problem once, the units it stops, the fix

What is checked, all of it before anything is trained (so the missing pieces show up together,
not one per attempt):

1. the tracking store opens (MLflow: a SQLite file or a live server);
2. each distinct dataset's location: data root set, ``<data_root>/<dataset>/`` present (a simulated
   dataset is written here, once);
3. each distinct image model's weight files (every missing file and where it was looked for);
4. every unit's fingerprint (:func:`bench.runner.key_unit`: dataset layout, subject files, image
   folders, extractor weights...), the same step that keys units for resume.

Identical messages are merged: a data root missing for 50 units is one problem naming 50 units.
Checks 2 and 3 call the very functions the fingerprint calls, so their messages are the same text
and merge with the fingerprint's; they exist because the fingerprint stops at its first problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Sequence

from bench.errors import BenchError
from bench.execution.plan import PlannedUnit, key_unit, plan
from bench.settings import Settings
from bench.tasks import Unit, task_kind


@dataclass(frozen=True)
class Problem:
    """One distinct problem: the error text (what, where, fix) and the labels of the units it stops."""

    message: str
    units: tuple[str, ...] = ()

    def describe(self, n_planned: int) -> str:
        if not self.units:
            scope = "stops every unit"
        elif len(self.units) == n_planned:
            scope = {1: "stops the one unit", 2: "stops both units"}.get(n_planned, f"stops all {n_planned} units")
        else:
            shown = "; ".join(self.units[:3]) + (f"; and {len(self.units) - 3} more" if len(self.units) > 3 else "")
            scope = f"stops {len(self.units)} of {n_planned} units ({shown})"
        body = "\n".join("    " + line for line in self.message.splitlines())
        return f"{scope}:\n{body}"


@dataclass
class PreflightReport:
    """The plan, which units are already finished, and every problem found (empty when all can run)."""

    planned: list[PlannedUnit] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def state(self, planned: PlannedUnit) -> str:
        """'finished', 'to run' or 'cannot run (problem 1, 2)' (the plan line of ``--dry-run``)."""
        if planned.error is None and planned.key in self.finished:
            return "finished"
        if planned.error is None:
            return "to run"
        numbers = [str(i) for i, p in enumerate(self.problems, 1) if planned.unit.label in p.units]
        return f"cannot run (problem {', '.join(numbers)})" if numbers else "cannot run"

    def blocked(self) -> list[PlannedUnit]:
        return [p for p in self.planned if p.error is not None]

    def describe(self) -> str:
        """Every problem once, numbered, with the units it stops and its fix."""
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found before running anything:"
        items = [f"[{i}] {p.describe(len(self.planned))}" for i, p in enumerate(self.problems, 1)]
        return "\n\n".join([head, *items])


def preflight(submission_refs: Sequence[str], *, tasks: Sequence[str] | None = None,
              subjects: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
              settings: Settings, progress: bool = False) -> PreflightReport:
    """Plan and key the units of ``bench evaluate`` and check everything they need; run nothing.

    Config errors (unknown task, subject, plug-in) raise as usual; everything else becomes a
    :class:`Problem` in the report. ``progress``: bars while units are checked and simulated data
    written (the latter on a terminal only); False: none.
    """
    loaded_tasks, loaded_subs, units = plan(submission_refs, tasks, subjects=subjects, seeds=seeds)
    found: dict[str, list[str]] = {}
    report = PreflightReport()
    try:
        from bench.records.mlflow_store import RecordStore

        report.finished = RecordStore(settings.tracking_uri).finished_keys()
    except BenchError as exc:
        found[str(exc)] = []
    _check_once(units, _dataset_key, lambda u: _dataset_location(u, settings, progress), found)
    _check_once([u for u in units if _uses_image_model(u)], _image_model_key,
                lambda u: _image_model_weights(u, settings), found)
    report.planned = _key_all(units, settings, progress)
    for p in report.planned:
        if p.error is not None:
            labels = found.setdefault(p.error, [])
            if p.unit.label not in labels:
                labels.append(p.unit.label)
    report.problems = [Problem(message, tuple(labels)) for message, labels in found.items()]
    return report


def _key_all(units: list[Unit], settings: Settings, progress: bool) -> list[PlannedUnit]:
    from tqdm.auto import tqdm

    return [key_unit(u, settings) for u in tqdm(units, desc="checking which units are already done",
                                                 unit="unit", disable=not progress, leave=False)]


def _check_once(units: list[Unit], key: Callable[[Unit], str], check: Callable[[Unit], None],
                found: dict[str, list[str]]) -> None:
    """Run ``check`` once per distinct ``key(unit)``; a failure is recorded against every unit sharing the key."""
    groups: dict[str, list[Unit]] = {}
    for u in units:
        groups.setdefault(key(u), []).append(u)
    for members in groups.values():
        try:
            check(members[0])
        except BenchError as exc:
            labels = found.setdefault(str(exc), [])
            labels += [u.label for u in members if u.label not in labels]


def _dataset_key(unit: Unit) -> str:
    return unit.task.dataset.model_dump_json()


def _dataset_location(unit: Unit, settings: Settings, progress: bool) -> None:
    from bench.data.locate import dataset_root

    dataset_root(unit.task.dataset, settings, progress=None if progress else False)   # None: on a terminal


def _image_model_key(unit: Unit) -> str:
    model = unit.submission.image_model
    return json.dumps([model.name, model.params], sort_keys=True, default=str)


def _image_model_weights(unit: Unit, settings: Settings) -> None:
    from bench.images import build_image_model

    model = unit.submission.image_model
    build_image_model(model.name, model.params, settings).weights_checksum()


def _uses_image_model(unit: Unit) -> bool:
    """Whether the unit's fingerprint reads its image model (reconstruction baselines read none)."""
    if task_kind(unit.task).name != "reconstruction":
        return True
    from bench.tasks.reconstruction import TRAINED_SOURCES, _source_name

    return _source_name(unit.submission) in TRAINED_SOURCES


__all__ = ["Problem", "PreflightReport", "preflight"]
