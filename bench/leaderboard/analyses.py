"""The analyses of :mod:`bench.analysis` as page data: noise ceilings, factorial designs, validity badges.

Data flow is one way: records, and the analysis files the CLI computed from data, -> statistics -> pages.

- **noise ceiling** (task page): it needs the task's data (the test repetitions), which a page build
  does not have, so ``bench analyze ceiling --task T --out T.ceiling.json`` computes it from the data
  and the build reads that file (``bench leaderboard build --analyses FILE_OR_FOLDER``; ``*.ceiling.json``
  files in a ``--snapshot`` folder are read too). Each entry's fraction of the ceiling is computed at
  build time from the records (:func:`bench.analysis.ceilings.fraction_of_ceiling`). A ceiling file made
  for another resolved task specification (its ``task_hash``) is shown with a warning.
- **factorial design** (a page per task): a pure function of the records
  (:func:`bench.analysis.factorial.factorial`, encoder x image model); an incomplete design is stated
  on the task page with what is missing.
- **validity checklist** (entry badges): the record checks (block design, validation-only selection,
  complete seeds) are recomputed from the records; the shuffled-pairs null and the pre-stimulus window
  come from the records of the derived tasks ``<task>-shuffled`` / ``<task>-prestim`` when the build has
  them, else from the ``bench check ... --out X.checks.json`` file; the image-overlap scan (which needs
  the image files) only from that file. A check nobody ran is "not run": shown, never hidden.
- **verification**: ``<snapshot>.verification.json`` beside a snapshot, attached to its records when
  the snapshot is loaded (:func:`bench.analysis.verify.attach_verification`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from bench.errors import RecordError
from bench.records.schema import Record

CEILING_SUFFIX = ".ceiling.json"
CHECKS_SUFFIX = ".checks.json"
VERIFICATION_SUFFIX = ".verification.json"
ANALYSIS_SUFFIXES = (CEILING_SUFFIX, CHECKS_SUFFIX, VERIFICATION_SUFFIX)


def is_analysis_file(path: Path | str) -> bool:
    """True for ``*.ceiling.json``, ``*.checks.json`` and ``*.verification.json`` (not snapshots)."""
    return Path(path).name.endswith(ANALYSIS_SUFFIXES)


@dataclass
class AnalysisInputs:
    """Analysis results computed from data by the CLI: ceilings per task, checklists per (task, submission)."""

    ceilings: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def _bad(path: Path, fieldname: str, what: str) -> RecordError:
    return RecordError(what, where=path, field=fieldname,
                       fix="write it again with `bench analyze ceiling --out` or `bench check --out`; do not edit it")


def load_analyses(paths: Sequence[Path | str]) -> AnalysisInputs:
    """Read analysis files (a folder stands for its ``*.ceiling.json`` and ``*.checks.json``), checked."""
    from bench.analysis.ceilings import CEILING_SCHEMA
    from bench.analysis.checks import CHECKLIST_SCHEMA

    out = AnalysisInputs()
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.name.endswith((CEILING_SUFFIX, CHECKS_SUFFIX)))
        elif p.is_file():
            files.append(p)
        else:
            raise RecordError("no such analysis file or folder", where=p, field="--analyses",
                              fix="name a *.ceiling.json / *.checks.json file or a folder holding them")
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise _bad(f, "(file)", f"not readable JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _bad(f, "(file)", "must be a JSON object")
        schema = doc.get("schema")
        if not isinstance(doc.get("task"), str):
            raise _bad(f, "task", "must be a task name")
        if schema == CEILING_SCHEMA:
            subjects = doc.get("subjects")
            if not isinstance(subjects, list) or not all(
                    isinstance(s, dict) and isinstance(s.get("subject"), int)
                    and isinstance(s.get("ceiling"), (int, float)) for s in subjects):
                raise _bad(f, "subjects", "must be a list of {subject: int, ceiling: number, ...}")
            out.ceilings[doc["task"]] = doc
        elif schema == CHECKLIST_SCHEMA:
            checks = doc.get("checks")
            if not isinstance(doc.get("submission"), str) or not isinstance(checks, list) or not all(
                    isinstance(c, dict) and isinstance(c.get("name"), str) for c in checks):
                raise _bad(f, "checks", "must name a submission and hold a list of checks")
            out.checks[(doc["task"], doc["submission"])] = doc
        else:
            raise _bad(f, "schema", f"unknown analysis schema {str(schema)[:60]!r} (expected '{CEILING_SCHEMA}' "
                                    f"or '{CHECKLIST_SCHEMA}')")
    return out


# ---- noise ceiling -------------------------------------------------------------------------------------
@dataclass
class CeilingView:
    """What the task page shows of a noise ceiling (top-1 brain-to-brain identification)."""

    metric: str
    mean: float
    chance: float
    method: str
    subjects: list[dict[str, Any]]
    fractions: list[dict[str, Any]]          # per entry: submission, slug, mean (fraction), per_subject
    stale: bool = False                      # made for another resolved task specification


def ceiling_view(doc: dict[str, Any], records: Sequence[Record], slugs: dict[str, str]) -> CeilingView:
    """The page data of a ceiling file for this task's records: per subject, mean, and each entry's fraction."""
    from bench.analysis.ceilings import SubjectCeiling, TaskCeiling, fraction_of_ceiling

    nan = float("nan")
    subjects = [SubjectCeiling(int(s["subject"]), int(s.get("n_images") or 0), int(s.get("n_dropped") or 0),
                               int(s.get("repetitions") or 0), float(s.get("chance") or nan),
                               float(s.get("split_half") if s.get("split_half") is not None else nan),
                               dict(s.get("curve") or {}), float(s["ceiling"]), str(s.get("method", "")))
                for s in doc["subjects"]]
    ceiling = TaskCeiling(task=doc["task"], metric=str(doc.get("metric", "top1")), subjects=subjects,
                          method=str(doc.get("method", "")))
    fractions = fraction_of_ceiling(records, ceiling, ceiling.metric)
    rows = [{"submission": sub, "slug": slugs.get(sub, ""), "mean": f["mean"], "per_subject": f["per_subject"]}
            for sub, f in fractions.items()]
    rows.sort(key=lambda r: (math.isnan(r["mean"]), -r["mean"] if not math.isnan(r["mean"]) else 0.0))
    hashes = {str(r.provenance.get("task_hash")) for r in records if r.provenance.get("task_hash")}
    stale = bool(doc.get("task_hash")) and bool(hashes) and doc["task_hash"] not in hashes
    return CeilingView(metric=ceiling.metric, mean=ceiling.mean, chance=ceiling.chance, method=ceiling.method,
                       subjects=[{"subject": s.subject, "n_images": s.n_images, "repetitions": s.repetitions,
                                  "n_dropped": s.n_dropped, "split_half": s.split_half, "ceiling": s.ceiling,
                                  "chance": s.chance} for s in ceiling.subjects],
                       fractions=rows, stale=stale)


# ---- factorial design ----------------------------------------------------------------------------------
@dataclass
class FactorialView:
    """A task's factorial analysis (``result``) or why there is none (``missing``)."""

    factors: list[str]
    result: Any = None                       # bench.analysis.factorial.FactorialResult
    missing: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.result is not None


def factorial_view(records: Iterable[Record], task: str, factors: Sequence[str] | None = None,
                   metric: str | None = None) -> FactorialView:
    """:func:`bench.analysis.factorial.factorial` (with the mixed model) or, for an incomplete or unbalanced
    design, the list of what is missing."""
    from bench.analysis.factorial import DEFAULT_FACTORS, factorial

    factors = list(factors or DEFAULT_FACTORS)
    try:
        return FactorialView(factors, factorial(records, task, factors, metric, mixed=True))
    except RecordError as exc:
        lines = [ln.strip().lstrip("- ").strip() for ln in exc.what.splitlines()[1:] if ln.strip()]
        return FactorialView(factors, None, lines or [exc.what])


# ---- validity checklist --------------------------------------------------------------------------------
def entry_checklist(records: Sequence[Record], task: str, submission: str,
                    stored: dict[str, Any] | None = None, alpha: float = 0.01):
    """The checklist of one entry (module docstring: which check comes from where)."""
    from bench.analysis.checks import Check, checklist

    def derived(suffix: str) -> list[Record]:
        return [r for r in records if r.task == f"{task}-{suffix}" and r.submission == submission and r.finished]

    saved = {c["name"]: c for c in (stored or {}).get("checks", [])}

    def from_file(name: str) -> Check | None:
        c = saved.get(name)
        if c is None or c.get("status") not in ("pass", "fail", "n/a", "not run"):
            return None
        value = c.get("value")
        return Check(name, c["status"], str(c.get("detail", "")) + " (from `bench check`)",
                     float(value) if isinstance(value, (int, float)) else None)

    pre_saved = saved.get("prestimulus") or {}
    note = str(pre_saved.get("detail")) if pre_saved.get("status") == "n/a" else None
    result = checklist(records, task, submission, null_records=derived("shuffled"),
                       prestim_records=derived("prestim"), prestim_note=note,
                       overlap=from_file("image_overlap"), alpha=alpha)
    for i, c in enumerate(result.checks):
        if c.status == "not run" and c.name in ("shuffled_null", "prestimulus"):
            result.checks[i] = from_file(c.name) or c
    return result


def attach_analyses(tasks: Sequence[Any], records: Sequence[Record], inputs: AnalysisInputs,
                    slugs: dict[str, str]) -> None:
    """Set ``factorial`` and ``ceiling`` of each :class:`~bench.leaderboard.data.TaskView` and ``checks`` and
    ``verification`` of each of its entries."""
    from bench.analysis.verify import entry_verification

    for t in tasks:
        mine = [r for r in records if r.task == t.name]
        t.factorial = factorial_view(mine, t.name, metric=t.metric)
        doc = inputs.ceilings.get(t.name)
        t.ceiling = ceiling_view(doc, mine, slugs) if doc is not None else None
        for e in t.entries:
            e.checks = entry_checklist(records, t.name, e.submission, inputs.checks.get((t.name, e.submission)))
            e.verification = entry_verification(e.records)


__all__ = ["ANALYSIS_SUFFIXES", "AnalysisInputs", "CeilingView", "FactorialView", "attach_analyses", "ceiling_view",
           "entry_checklist", "factorial_view", "is_analysis_file", "load_analyses"]
