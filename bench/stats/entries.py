"""The records of an entry: the one definition shared by ``bench results``, ``bench compare``, tiers and pages.

An *entry* is one submission on one task; a *unit* is (task, submission, split, seed). The records that
count for an entry are resolved like this (PROTOCOLS.md §5, "one entry = one resolved spec"):

- only finished records count; several finished records with the **same key** are the same result
  (a re-import, a forced re-run) and count once (the first one);
- a unit with finished records under **more than one key** is a *conflict*: the configuration, a data
  or weight file, or the harness changed and the superseded runs are still stored. Nothing can tell
  which run is current, so the unit is excluded from every score, test and tier, and flagged;
- an entry whose finished records come from **more than one resolved specification** (task or
  submission spec; descriptions, authors and tags do not count) is a conflict on every one of its
  units, even where no unit has two keys: averaging them would average two specs;
- failed records of units that have no finished record are kept apart (``failed``), never averaged.

The fix is the same everywhere (:data:`CONFLICT_FIX`).

>>> res = resolve_entries(records)
>>> res.records          # finished, de-duplicated, conflict-free: the only records statistics use
>>> res.conflicts        # one Conflict per excluded unit
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from bench.records.schema import Record

#: How to resolve a conflict; printed by ``bench results``/``bench compare`` and on the pages.
CONFLICT_FIX = ("re-run `bench evaluate <submission>` to produce current records, then delete the superseded "
                "runs (`bench store prune`)")


def conflict_fix(submission: str, task: str) -> str:
    """:data:`CONFLICT_FIX` for one entry."""
    return (f"re-run `bench evaluate <current YAML of {submission}> --task {task}` to produce current records, "
            f"then delete the superseded runs (`bench store prune`)")

Unit = tuple[str, str, str, int]          # (task, submission, split, seed)


@dataclass(frozen=True)
class Conflict:
    """A unit excluded from statistics: its finished records disagree (several keys or several specs)."""

    task: str
    submission: str
    split: str
    seed: int
    keys: tuple[str, ...]
    reason: str

    @property
    def label(self) -> str:
        return f"{self.split}/seed{self.seed}"

    def to_dict(self) -> dict:
        return {"task": self.task, "submission": self.submission, "split": self.split, "seed": self.seed,
                "keys": list(self.keys), "reason": self.reason, "fix": conflict_fix(self.submission, self.task)}


@dataclass
class Resolution:
    """The outcome of :func:`resolve_entries`.

    records:   finished records that count (one per unit, conflicting units removed).
    conflicts: one :class:`Conflict` per excluded unit, sorted.
    failed:    failed records of units that have no finished record at all.
    """

    records: list[Record] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    failed: list[Record] = field(default_factory=list)

    def conflicts_of(self, task: str, submission: str) -> list[Conflict]:
        return [c for c in self.conflicts if c.task == task and c.submission == submission]


def spec_identity(record: Record) -> str:
    """What makes two records the same specification: the provenance's task and submission hashes, or
    (records without them) the resolved specs minus the fields that do not change what is computed."""
    prov = record.provenance if isinstance(record.provenance, dict) else {}
    if prov.get("task_hash") and prov.get("submission_hash"):
        return f"{prov['task_hash']}/{prov['submission_hash']}"
    from bench.config.schema import NON_SEMANTIC_FIELDS

    sub = {k: v for k, v in (record.submission_spec or {}).items() if k not in NON_SEMANTIC_FIELDS}
    task = {k: v for k, v in (record.task_spec or {}).items() if k not in NON_SEMANTIC_FIELDS}
    return json.dumps([task, sub], sort_keys=True, default=str)


def resolve_entries(records: Iterable[Record]) -> Resolution:
    """Finished, de-duplicated, conflict-free records, the conflicts and the failed-only units (module doc)."""
    records = list(records)
    by_unit: dict[Unit, list[Record]] = defaultdict(list)
    failed_by_unit: dict[Unit, list[Record]] = defaultdict(list)
    specs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        unit = (r.task, r.submission, r.split, r.seed)
        if r.finished:
            by_unit[unit].append(r)
            specs[(r.task, r.submission)].add(spec_identity(r))
        else:
            failed_by_unit[unit].append(r)
    out = Resolution()
    for unit in sorted(by_unit):
        task, sub, split, seed = unit
        first_of_key: dict[str, Record] = {}
        for r in by_unit[unit]:
            first_of_key.setdefault(r.key, r)
        keys = tuple(first_of_key)
        n_specs = len(specs[(task, sub)])
        if len(keys) > 1:
            out.conflicts.append(Conflict(task, sub, split, seed, keys,
                                          f"{len(keys)} finished records with different keys"))
        elif n_specs > 1:
            out.conflicts.append(Conflict(task, sub, split, seed, keys,
                                          f"the entry's records come from {n_specs} different specifications"))
        else:
            out.records.append(first_of_key[keys[0]])
    out.failed = [rs[0] for unit, rs in sorted(failed_by_unit.items()) if unit not in by_unit]
    return out


def first_line(error: str | None) -> str:
    """The first non-empty line of a failed unit's error (what pages and ``bench results`` show)."""
    for line in (error or "").splitlines():
        if line.strip():
            return line.strip()
    return "failed (no error message recorded)"


@dataclass
class FailedAttempt:
    """An entry with failed units and no finished unit: not a leaderboard entry, listed as a failed attempt.

    errors: (first line of the error, number of units that failed with it), most frequent first."""

    task: str
    submission: str
    n_failed: int
    errors: list[tuple[str, int]]

    def to_dict(self) -> dict:
        return {"task": self.task, "submission": self.submission, "status": "failed attempt",
                "n_failed": self.n_failed, "errors": [{"error": e, "units": n} for e, n in self.errors]}


def error_counts(failed: Iterable[Record]) -> list[tuple[str, int]]:
    """(first error line, count) over failed records, most frequent first."""
    counts: dict[str, int] = defaultdict(int)
    for r in failed:
        counts[first_line(r.error)] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def failed_attempts(records: Iterable[Record]) -> list[FailedAttempt]:
    """Entries (task, submission) whose records are all failed: they failed, they did not go missing."""
    records = list(records)
    finished = {(r.task, r.submission) for r in records if r.finished}
    failed = resolve_entries(records).failed
    out = []
    for task, sub in sorted({(r.task, r.submission) for r in failed} - finished):
        mine = [r for r in failed if r.task == task and r.submission == sub]
        out.append(FailedAttempt(task, sub, len(mine), error_counts(mine)))
    return out


def entry_records(records: Iterable[Record], task: str, submission: str) -> list[Record]:
    """The records that count for one entry (see :func:`resolve_entries`)."""
    return resolve_entries(r for r in records if r.task == task and r.submission == submission).records


def conflict_message(conflicts: list[Conflict], limit: int = 6) -> str:
    """One line naming the conflicting units of an entry and the fix."""
    if not conflicts:
        return ""
    units = ", ".join(c.label for c in conflicts[:limit]) + (f" and {len(conflicts) - limit} more"
                                                             if len(conflicts) > limit else "")
    reasons = sorted({c.reason for c in conflicts})
    return (f"{len(conflicts)} conflicting unit(s) excluded ({units}: {'; '.join(reasons)}); "
            f"fix: {conflict_fix(conflicts[0].submission, conflicts[0].task)}")


__all__ = ["CONFLICT_FIX", "Conflict", "FailedAttempt", "conflict_fix", "error_counts", "failed_attempts",
           "first_line", "Resolution", "conflict_message", "entry_records", "resolve_entries",
           "spec_identity"]
