"""Aggregate unit records into per-submission scores (mean over subjects of seed means, SE over the pairing unit).

Records are first resolved by :func:`bench.stats.entries.resolve_entries` (the one definition of "the
records of an entry"): conflicting units are excluded and listed, never averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from bench.records.schema import Record
from bench.stats.design import design_of
from bench.stats.entries import Conflict, first_line, resolve_entries


def unit_table(records: Iterable[Record], metric: str) -> pd.DataFrame:
    """One row per finished record: task, submission, split, subject, seed, value of ``metric``, key.

    Pass resolved records (:func:`resolve_entries`) when the rows feed statistics."""
    rows = [{"task": r.task, "submission": r.submission, "split": r.split, "subject": r.subject, "seed": r.seed,
             "value": r.metrics.get(metric, np.nan), "key": r.key}
            for r in records if r.finished]
    cols = ["task", "submission", "split", "subject", "seed", "value", "key"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    return frame


def expected_units(record: Record) -> set[tuple[str, int]]:
    """(split, seed) pairs the record's task demands (from its resolved spec)."""
    from bench.config.schema import split_names

    spec = record.task_spec
    splits = split_names(spec.get("scheme", "within-subject"), spec["dataset"]["subjects"])
    return {(split, seed) for split, _ in splits for seed in spec["seeds"]}


@dataclass
class SubmissionSummary:
    """A submission's score on one task and metric.

    mean:        mean over subjects of the per-subject seed mean (only completed units count).
    se:          standard error (ddof=1) across the design's pairing unit: subjects, or seeds for a pooled
                 task (``pair_by``); NaN with fewer than two.
    per_subject: split -> (mean over seeds, std over seeds (ddof=1, NaN for one seed), n seeds).
    missing:     (split, seed) units the task demands that were never run (no finished or failed record).
    failed:      (split, seed, first line of the error) of units that failed and have no finished record.
    conflicts:   units excluded because their records conflict (:class:`~bench.stats.entries.Conflict`).
    """

    task: str
    submission: str
    metric: str
    mean: float
    se: float
    n_subjects: int
    n_seeds: int
    n_units: int
    per_subject: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    missing: list[tuple[str, int]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    pair_by: str = "subjects"
    failed: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.conflicts and not self.failed

    @property
    def n_pairs(self) -> int:
        """Pairs this entry brings to a paired test: subjects, or seeds for a pooled task."""
        return self.n_seeds if self.pair_by == "seeds" else self.n_subjects

    def to_dict(self) -> dict:
        return {"task": self.task, "submission": self.submission, "metric": self.metric, "mean": self.mean,
                "se": self.se, "se_over": self.pair_by, "n_subjects": self.n_subjects, "n_seeds": self.n_seeds,
                "n_units": self.n_units, "complete": self.complete,
                "missing": [f"{s}/seed{x}" for s, x in self.missing],
                "failed": [{"unit": f"{s}/seed{x}", "error": e} for s, x, e in self.failed],
                "conflicts": [c.to_dict() for c in self.conflicts],
                "per_subject": {k: {"mean": m, "std": s, "n_seeds": n} for k, (m, s, n) in self.per_subject.items()}}


def summarise(records: Iterable[Record], metric: str) -> list[SubmissionSummary]:
    """One summary per (task, submission) with a finished record; incomplete or conflicting plans are
    flagged, not hidden, and conflicting units never enter the mean."""
    records = list(records)
    resolved = resolve_entries(records)
    table = unit_table(resolved.records, metric).dropna(subset=["value"])
    entries = sorted({(r.task, r.submission) for r in records if r.finished})
    out = []
    for task, sub in entries:
        group = table[(table["task"] == task) & (table["submission"] == sub)]
        conflicts = resolved.conflicts_of(task, sub)
        example = next(r for r in records if r.task == task and r.submission == sub and r.finished)
        pair_by = design_of(example.task_spec).pair_by
        per_split = group.groupby("split")["value"]
        means, stds, counts = per_split.mean(), per_split.std(ddof=1), per_split.count()
        have = {(s, int(x)) for s, x in zip(group["split"], group["seed"])}
        excluded = {(c.split, c.seed) for c in conflicts}
        failed = sorted({(r.split, r.seed, first_line(r.error)) for r in resolved.failed
                         if r.task == task and r.submission == sub})
        missing = sorted(expected_units(example) - have - excluded - {(s, x) for s, x, _ in failed})
        n_subj = len(means)
        spread = group["value"].to_numpy() if pair_by == "seeds" else means.to_numpy()
        out.append(SubmissionSummary(
            task=task, submission=sub, metric=metric,
            mean=float(means.mean()) if n_subj else float("nan"),
            se=float(spread.std(ddof=1) / np.sqrt(len(spread))) if len(spread) > 1 else float("nan"),
            n_subjects=n_subj, n_seeds=int(group["seed"].nunique()), n_units=len(group),
            per_subject={s: (float(means[s]), float(stds[s]), int(counts[s])) for s in means.index},
            missing=missing, conflicts=conflicts, pair_by=pair_by, failed=failed))
    return out
