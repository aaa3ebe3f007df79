"""Aggregate unit records into per-submission scores (mean over subjects of seed means, SE over subjects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from bench.records.schema import Record


def unit_table(records: Iterable[Record], metric: str) -> pd.DataFrame:
    """One row per finished unit: task, submission, split, subject, seed, value of ``metric``."""
    rows = [{"task": r.task, "submission": r.submission, "split": r.split, "subject": r.subject, "seed": r.seed,
             "value": r.metrics.get(metric, np.nan), "key": r.key}
            for r in records if r.finished]
    cols = ["task", "submission", "split", "subject", "seed", "value", "key"]
    return pd.DataFrame(rows, columns=cols)


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
    se:          standard error of the per-subject means across subjects (ddof=1); NaN for one subject.
    per_subject: split -> (mean over seeds, std over seeds (ddof=1, NaN for one seed), n seeds).
    missing:     (split, seed) units the task demands that have no finished record.
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

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict:
        return {"task": self.task, "submission": self.submission, "metric": self.metric, "mean": self.mean,
                "se": self.se, "n_subjects": self.n_subjects, "n_seeds": self.n_seeds, "n_units": self.n_units,
                "complete": self.complete, "missing": [f"{s}/seed{x}" for s, x in self.missing],
                "per_subject": {k: {"mean": m, "std": s, "n_seeds": n} for k, (m, s, n) in self.per_subject.items()}}


def subject_means(table: pd.DataFrame) -> pd.Series:
    """Seed-averaged value per split (the unit of the subject-level statistics)."""
    return table.groupby("split")["value"].mean()


def summarise(records: Iterable[Record], metric: str) -> list[SubmissionSummary]:
    """One summary per (task, submission) among ``records``; incomplete plans are flagged, not hidden."""
    records = list(records)
    table = unit_table(records, metric)
    out = []
    for (task, sub), group in table.groupby(["task", "submission"], sort=True):
        group = group.dropna(subset=["value"])
        per_split = group.groupby("split")["value"]
        means = per_split.mean()
        stds = per_split.std(ddof=1)
        counts = per_split.count()
        example = next(r for r in records if r.task == task and r.submission == sub)
        have = {(s, int(x)) for s, x in zip(group["split"], group["seed"])}
        missing = sorted(expected_units(example) - have)
        n_subj = len(means)
        out.append(SubmissionSummary(
            task=task, submission=sub, metric=metric,
            mean=float(means.mean()) if n_subj else float("nan"),
            se=float(means.std(ddof=1) / np.sqrt(n_subj)) if n_subj > 1 else float("nan"),
            n_subjects=n_subj, n_seeds=int(group["seed"].nunique()), n_units=len(group),
            per_subject={s: (float(means[s]), float(stds[s]), int(counts[s])) for s in means.index},
            missing=missing))
    return out
