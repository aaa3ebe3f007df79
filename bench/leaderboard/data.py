"""Records -> what the pages show: per-task tables with tiers, per-submission sections (plain data, no HTML).

Everything here is a pure function of the records (and the packaged reported numbers). Strings that
come from submissions or tasks are kept as they are: escaping is the renderer's job (autoescape), and
nothing in this module builds markup.

Rules the tables follow (PROTOCOLS.md §5):
- an entry = one submission on one task; its score is the mean over subjects of the seed means, ± the
  standard error across subjects (:func:`bench.stats.summarise`);
- incomplete entries (a unit the task demands has no finished record with a finite value) are shown
  with their partial mean, flagged, and get no tier; they are not in the pairwise family;
- which records count is decided by :func:`bench.stats.entries.resolve_entries`, the definition
  ``bench results`` and ``bench compare`` use too: units with finished records under several keys
  (or entries mixing specifications) are "conflicting", excluded from scores, tests and tiers, and
  shown with the fix; the page cannot know which run is current, so it does not pick one;
- significance tiers come from :func:`bench.stats.tiers.compute_tiers` (the design's paired test,
  a declared minimum n, power stated); pairwise comparisons among complete entries from
  :func:`bench.stats.compare_all`, corrected as one family;
- data caveats come from the dataset class (``caveats``, e.g. THINGS-EEG2's test-informed whitening);
- reported numbers are attached to tasks by :func:`bench.leaderboard.reported.reported_for_task`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from bench.errors import RecordError
from bench.leaderboard.reported import ReportedNumber, reported_for_task
from bench.records.schema import Record
from bench.stats.aggregate import SubmissionSummary, expected_units, summarise
from bench.stats.compare import Comparison, compare_all
from bench.stats.design import Design, design_of
from bench.stats.entries import Conflict, FailedAttempt, conflict_fix, failed_attempts, first_line, resolve_entries
from bench.stats.tiers import TierResult, compute_tiers

_KWAY = re.compile(r"^kway/(\d+)/top1$")


# ---- formatting helpers (plain text; escaping happens in the templates) -------------------------------
def is_fraction(metric: str) -> bool:
    """Metrics stored as fractions in [0, 1] and shown in percent: the metric registry says which."""
    from bench.metrics import is_percent

    return is_percent(metric)


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric`` from the metric registry (higher for a metric it does not know)."""
    from bench.metrics import higher_is_better as registry_direction

    return registry_direction(metric)


def metric_label(metric: str) -> str:
    """'top1' -> 'top-1 (%)', 'kway/50/top1' -> '50-way top-1 (%)'."""
    base = metric
    prefix = ""
    if base.startswith("last_epoch/"):
        prefix, base = "last epoch ", base[len("last_epoch/"):]
    m = re.match(r"^kway/(\d+)/top(\d+)(/sampled)?$", base)
    b = re.match(r"^batch(\d+)/top(\d+)$", base)
    if m:
        text = f"{m.group(1)}-way top-{m.group(2)}" + (" (one seeded draw)" if m.group(3) else "")
    elif b:
        text = f"{b.group(1)}-way top-{b.group(2)} in batches"
    else:
        text = re.sub(r"^top(\d+)$", r"top-\1", base)
    return prefix + text + (" (%)" if is_fraction(metric) else "")


def scale(value: float | None, metric: str) -> float:
    """The value in display units (percent for fraction metrics); NaN for missing."""
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return float("nan")
    return float(value) * (100.0 if is_fraction(metric) else 1.0)


def fmt(value: float | None, metric: str = "", digits: int | None = None) -> str:
    """A value in display units: '45.20' for fractions (percent), 4 significant digits otherwise."""
    v = scale(value, metric)
    if math.isnan(v):
        return "—"
    if digits is not None:
        return f"{v:.{digits}f}"
    return f"{v:.2f}" if is_fraction(metric) else f"{v:.4g}"


def fmt_pm(mean: float | None, spread: float | None, metric: str = "") -> str:
    """'45.20 ± 1.23' ('45.20' alone when the spread is undefined)."""
    m, s = fmt(mean, metric), fmt(spread, metric)
    return m if s == "—" or m == "—" else f"{m} ± {s}"


#: Fewest subjects (seeds, pooled) for which a 95% t-interval is drawn; with 2 the interval is ±12.7 SE.
MIN_INTERVAL_N = 3


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take (fractions: [0, 1]); intervals are clipped to it."""
    return (0.0, 1.0) if is_fraction(metric) else (-math.inf, math.inf)


@dataclass(frozen=True)
class Interval:
    """A 95% t-interval of an entry's mean across its pairing unit, clipped to the metric's range."""

    low: float
    high: float
    clipped_low: bool
    clipped_high: bool
    n: int

    @property
    def clipped(self) -> bool:
        return self.clipped_low or self.clipped_high


def interval(summary: SubmissionSummary, metric: str) -> Interval | None:
    """95% t-interval (mean ± t_{.975, n-1} × SE; n subjects, or seeds on pooled tasks), clipped to the metric's
    range and marked when clipped; None below :data:`MIN_INTERVAL_N` (the interval would say nothing)."""
    from scipy import stats

    n = summary.n_pairs
    if n < MIN_INTERVAL_N or not math.isfinite(summary.mean) or not math.isfinite(summary.se):
        return None
    half = float(stats.t.ppf(0.975, n - 1)) * summary.se
    lo_bound, hi_bound = metric_range(metric)
    lo, hi = summary.mean - half, summary.mean + half
    return Interval(max(lo, lo_bound), min(hi, hi_bound), lo < lo_bound, hi > hi_bound, n)


def fmt_interval(iv: Interval | None, metric: str) -> str:
    """'[31.20, 45.80]', with '(clipped)' where an end was cut at the metric's range; '—' when not drawn."""
    if iv is None:
        return "—"
    return f"[{fmt(iv.low, metric)}, {fmt(iv.high, metric)}]" + (" (clipped)" if iv.clipped else "")


def fmt_p(p: float | None) -> str:
    if p is None or not isinstance(p, (int, float)) or math.isnan(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def slugify(name: str, used: set[str] | None = None) -> str:
    """A file-name-safe, unique slug; names that are not already safe get a short hash suffix."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-_")[:60] or "x"
    slug = base
    if base != name:
        slug = f"{base}-{hashlib.sha1(str(name).encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    if used is not None:
        n, candidate = 2, slug
        while candidate.lower() in used:
            candidate = f"{slug}-{n}"
            n += 1
        slug = candidate
        used.add(slug.lower())
    return slug


def text(value: Any, limit: int = 500) -> str:
    """Any value as display text (dicts/lists as compact JSON), cut at ``limit`` characters."""
    if value is None:
        return ""
    s = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


# ---- record checks ---------------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def check_records(records: Iterable[Record]) -> list[Record]:
    """Check the fields pages rely on (records from snapshots are untrusted input); errors name the record."""
    out = []
    for i, r in enumerate(records):
        where = f"record {i} (key {str(getattr(r, 'key', '?'))[:40]!r})"

        def bad(fieldname: str, what: str) -> RecordError:
            return RecordError(what, where=where, field=fieldname,
                               fix="re-export the records with `bench leaderboard export` rather than editing them")

        for name in ("key", "task", "submission", "split"):
            if not isinstance(getattr(r, name), str) or not getattr(r, name):
                raise bad(name, "must be a non-empty string")
        for name in ("subject", "seed"):
            if not _is_int(getattr(r, name)):
                raise bad(name, "must be an integer")
        if r.status not in ("finished", "failed"):
            raise bad("status", f"must be 'finished' or 'failed', not {text(r.status, 40)!r}")
        for name in ("task_spec", "submission_spec", "metrics", "per_item", "curves", "provenance", "timings", "info"):
            if not isinstance(getattr(r, name), dict):
                raise bad(name, "must be a mapping")
        dataset = r.task_spec.get("dataset")
        if not isinstance(dataset, dict) or not isinstance(dataset.get("subjects"), list) \
                or not all(_is_int(s) for s in dataset["subjects"]):
            raise bad("task_spec.dataset.subjects", "must be a list of integers")
        if not isinstance(r.task_spec.get("seeds"), list) or not all(_is_int(s) for s in r.task_spec["seeds"]):
            raise bad("task_spec.seeds", "must be a list of integers")
        for k, v in r.metrics.items():
            if not isinstance(k, str) or not _is_number(v):
                raise bad(f"metrics.{text(k, 40)}", "metric values must be numbers")
        for k, v in r.curves.items():
            if not isinstance(v, list) or not all(_is_number(x) for x in v):
                raise bad(f"curves.{text(k, 40)}", "curves must be lists of numbers")
        if r.chosen_epoch is not None and not _is_int(r.chosen_epoch):
            raise bad("chosen_epoch", "must be an integer or null")
        out.append(r)
    return out


def merge_records(*sources: Iterable[Record]) -> list[Record]:
    """Concatenate record lists, keeping the first record of each unit key."""
    seen: set[str] = set()
    out = []
    for source in sources:
        for r in source:
            if r.key not in seen:
                seen.add(r.key)
                out.append(r)
    return out


# ---- views -----------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One submission on one task: its row in the task table."""

    submission: str
    slug: str
    spec: dict[str, Any]
    summary: SubmissionSummary
    tier: int | None
    expected: int
    secondary: dict[str, SubmissionSummary] = field(default_factory=dict)
    last_epoch: SubmissionSummary | None = None
    conflicting: list[str] = field(default_factory=list)
    failed: list[Record] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    note: str = ""
    checks: Any = None                  # bench.analysis.checks.Checklist (bench.leaderboard.analyses)
    verification: str = "unverified"    # bench.analysis.verify.entry_verification

    @property
    def badges(self) -> list[dict[str, str]]:
        """The validity-check badges (every check, failed ones included)."""
        from bench.analysis.checks import badges

        return badges(self.checks) if self.checks is not None else []

    @property
    def checks_failed(self) -> list[str]:
        return [c.name for c in self.checks.checks if c.status == "fail"] if self.checks is not None else []

    @property
    def checks_text(self) -> str:
        """'FAIL: a, b', else 'k of n pass' (n/a and not run counted apart)."""
        if self.checks is None:
            return "not checked"
        if self.checks_failed:
            return "FAIL: " + ", ".join(self.checks_failed)
        cs = self.checks.checks
        ok = sum(c.status == "pass" for c in cs)
        rest = [f"{sum(c.status == st for c in cs)} {st}" for st in ("n/a", "not run")
                if any(c.status == st for c in cs)]
        return f"{ok} pass" + (f", {', '.join(rest)}" if rest else "")

    @property
    def conflict_fix(self) -> str:
        return conflict_fix(self.submission, self.summary.task) if self.conflicting else ""

    @property
    def complete(self) -> bool:
        return self.summary.complete and not self.conflicting

    @property
    def status(self) -> str:
        if self.conflicting:
            return f"conflicting records ({len(self.conflicting)} units excluded)"
        if not self.summary.complete:
            s = self.summary
            parts = [f"{len(s.failed)} failed" if s.failed else "", f"{len(s.missing)} never run" if s.missing else ""]
            return f"incomplete ({', '.join(p for p in parts if p)} of {self.expected} units)"
        return "complete"

    @property
    def failed_lines(self) -> list[tuple[str, str]]:
        """(unit, first line of its error) for each failed unit."""
        return [(f"{r.split}/seed{r.seed}", first_line(r.error)) for r in self.failed]

    @property
    def ci(self) -> Interval | None:
        """95% t-interval of the mean, clipped to the metric's range (None below MIN_INTERVAL_N)."""
        return interval(self.summary, self.summary.metric)

    @property
    def ci_text(self) -> str:
        return fmt_interval(self.ci, self.summary.metric)

    @property
    def units_text(self) -> str:
        """'10 × 5' subjects × seeds completed."""
        return f"{self.summary.n_subjects} × {self.summary.n_seeds}"

    @property
    def encoder(self) -> str:
        return component_label(self.spec, "encoder")

    @property
    def image_model(self) -> str:
        return component_label(self.spec, "image_model")

    @property
    def alignment(self) -> str:
        tags = self.spec.get("tags")
        return text(tags.get("alignment", ""), 80) if isinstance(tags, dict) else ""

    @property
    def encoder_full(self) -> str:
        return component_full(self.spec, "encoder")

    @property
    def image_model_full(self) -> str:
        return component_full(self.spec, "image_model")

    @property
    def recipe(self) -> str:
        return recipe_text(self.spec.get("recipe"))


def component_label(spec: Mapping[str, Any], which: str) -> str:
    """The tag (``tags.encoder`` / ``tags.image_model``) or else the plug-in name."""
    tags = spec.get("tags")
    if isinstance(tags, dict) and tags.get(which):
        return text(tags[which], 80)
    comp = spec.get(which)
    return text(comp.get("name", ""), 80) if isinstance(comp, dict) else text(comp, 80)


def component_full(spec: Mapping[str, Any], which: str) -> str:
    """'name {params}' of a component, for tooltips and the submission page."""
    comp = spec.get(which)
    if not isinstance(comp, dict):
        return text(comp, 200)
    params = comp.get("params") or {}
    return text(comp.get("name", ""), 80) + (f" {text(params, 200)}" if params else "")


def recipe_text(recipe: Any) -> str:
    """A one-line summary of a resolved recipe: 'infonce, τ 0.04 (fixed), adamw lr 0.0002, batch 128, 50 ep'."""
    if not isinstance(recipe, dict):
        return ""
    parts = [text(recipe.get("loss", ""), 40)]
    temp = recipe.get("temperature")
    if isinstance(temp, dict) and "initial" in temp:
        parts.append(f"τ {text(temp.get('initial'), 20)} ({'learned' if temp.get('learnable') else 'fixed'})")
    opt = recipe.get("optimizer")
    if isinstance(opt, dict):
        parts.append(f"{text(opt.get('name', ''), 20)} lr {text(opt.get('lr', ''), 20)}")
    if "batch_size" in recipe:
        parts.append(f"batch {text(recipe['batch_size'], 20)}")
    if "epochs" in recipe:
        parts.append(f"{text(recipe['epochs'], 20)} ep")
    return ", ".join(p for p in parts if p)


def oriented(c: Comparison, name: str) -> dict[str, Any]:
    """A comparison seen from ``name`` (differences are ``name`` − other)."""
    flip = c.b == name
    s = -1.0 if flip else 1.0
    return {"other": c.a if flip else c.b, "n_subjects": c.n_subjects, "n_units": c.n_units,
            "mean_self": c.mean_b if flip else c.mean_a, "mean_other": c.mean_a if flip else c.mean_b,
            "diff": s * c.mean_diff, "ci_low": -c.ci_high if flip else c.ci_low,
            "ci_high": -c.ci_low if flip else c.ci_high, "t": s * c.t, "p": c.p, "test": c.test,
            "n_pairs": c.n_pairs, "pair_by": c.pair_by, "mdd": c.mdd, "significant": c.significant,
            "p_corrected": c.p_corrected, "dz": s * c.cohens_dz, "p_unit": c.p_unit, "p_wilcoxon": c.p_wilcoxon,
            "ci_level": c.ci_level, "correction": c.correction, "unmatched": c.unmatched, "note": c.note}


@dataclass
class KwayCurve:
    """Mean (± SE across subjects) top-1 accuracy per k for one entry; ``k = n_gallery`` is plain top-1."""

    ks: list[int]
    means: list[float]
    ses: list[float]


@dataclass
class TaskView:
    """Everything the task page shows."""

    name: str
    slug: str
    spec: dict[str, Any]
    metric: str
    correction: str
    alpha: float
    entries: list[Entry]
    tiers: TierResult
    comparisons: list[Comparison]
    reported: list[ReportedNumber]
    chance: float | None
    kway: dict[str, KwayCurve]
    harness_versions: list[str]
    n_specs: int
    last_update: str | None = None
    design: Design | None = None
    caveats: tuple[str, ...] = ()
    failed_attempts: list[FailedAttempt] = field(default_factory=list)
    ceiling: Any = None                 # bench.leaderboard.analyses.CeilingView (from a *.ceiling.json)
    factorial: Any = None               # bench.leaderboard.analyses.FactorialView

    @property
    def power(self) -> str:
        """The power statement of this task's design (see :meth:`bench.stats.tiers.TierResult.power`)."""
        return self.tiers.power(lambda v: fmt(v, self.metric) + (" points" if is_fraction(self.metric) else ""),
                                self.comparisons)

    @property
    def conflicted(self) -> list["Entry"]:
        return [e for e in self.entries if e.conflicting]

    @property
    def version(self) -> str:
        return text(self.spec.get("version", "?"), 20)

    @property
    def variant(self) -> str:
        return text(self.spec.get("variant", "default"), 80)

    @property
    def dataset(self) -> dict[str, Any]:
        d = self.spec.get("dataset")
        return d if isinstance(d, dict) else {}

    @property
    def simulated(self) -> bool:
        return self.dataset.get("source") == "simulated"

    @property
    def complete_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.complete]

    @property
    def top(self) -> list[Entry]:
        """The best three complete entries (tiered, or all untiered when the design is too small to tier)."""
        return [e for e in self.entries if e.complete][:3]

    @property
    def secondary_metrics(self) -> list[str]:
        names: list[str] = []
        for e in self.entries:
            names += [m for m in e.secondary if m not in names]
        return names

    def comparisons_for(self, name: str) -> list[dict[str, Any]]:
        return [oriented(c, name) for c in self.comparisons if name in (c.a, c.b)]


@dataclass
class SubmissionView:
    """Everything a submission's page shows: its specs and one section per task."""

    name: str
    slug: str
    specs: list[dict[str, Any]]
    sections: list[tuple[TaskView, Entry]]

    @property
    def spec(self) -> dict[str, Any]:
        return self.specs[0] if self.specs else {}


@dataclass
class SiteView:
    tasks: list[TaskView]
    submissions: list[SubmissionView]
    reported: list[ReportedNumber]
    harness_versions: list[str]
    last_update: str | None


# ---- assembly --------------------------------------------------------------------------------------
def _chance(records: list[Record], metric: str) -> float | None:
    for r in records:
        chance = r.info.get("chance")
        if isinstance(chance, dict) and _is_number(chance.get(metric)) and chance.get(metric) is not None:
            return float(chance[metric])
    m = re.match(r"^top(\d+)$", metric)
    if m:
        for r in records:
            n = r.info.get("n_gallery")
            if _is_int(n) and n > 0:
                return min(int(m.group(1)), n) / n
    return None


def _kway_curve(records: list[Record]) -> KwayCurve | None:
    ks = sorted({int(m.group(1)) for r in records for k in r.metrics for m in [_KWAY.match(k)] if m})
    if not ks:
        return None
    curve = KwayCurve([], [], [])
    for k in ks:
        s = summarise(records, f"kway/{k}/top1")
        if s and not math.isnan(s[0].mean):
            curve.ks.append(k)
            curve.means.append(s[0].mean)
            curve.ses.append(s[0].se)
    galleries = {r.info.get("n_gallery") for r in records if _is_int(r.info.get("n_gallery"))}
    if len(galleries) == 1:
        n = galleries.pop()
        s = summarise(records, "top1")
        if n not in curve.ks and s and not math.isnan(s[0].mean):
            curve.ks.append(n)
            curve.means.append(s[0].mean)
            curve.ses.append(s[0].se)
    return curve if curve.ks else None


def dataset_caveats(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``caveats`` the task's dataset class declares (its preprocessing provenance), if any."""
    dataset = spec.get("dataset")
    name = dataset.get("name") if isinstance(dataset, dict) else None
    if not isinstance(name, str):
        return ()
    try:
        from bench.data import DATASETS

        cls = DATASETS.get(name)
    except Exception:  # an unknown or unloadable dataset plug-in has no caveats to show
        return ()
    caveats = getattr(cls, "caveats", ())
    return tuple(str(c) for c in caveats) if isinstance(caveats, (tuple, list)) else ()


def assemble_task(task: str, records: list[Record], *, metric: str | None = None, correction: str = "holm",
                  alpha: float = 0.05, n_boot: int = 10000, reported: list[ReportedNumber] | None = None,
                  used_slugs: set[str] | None = None, submission_slugs: dict[str, str] | None = None,
                  last_update: str | None = None) -> TaskView:
    """The task page's data from this task's records (all statuses)."""
    records = [r for r in records if r.task == task]
    spec = next((r.task_spec for r in records if r.finished), records[0].task_spec)
    metric = metric or text(spec.get("headline_metric") or "top1", 80)
    by_sub: dict[str, list[Record]] = defaultdict(list)
    finished_subs = {r.submission for r in records if r.finished}
    for r in records:
        if r.submission in finished_subs:        # an entry needs a finished unit; the rest are failed attempts
            by_sub[r.submission].append(r)
    resolved = resolve_entries(records)
    counted: dict[str, list[Record]] = defaultdict(list)
    for r in resolved.records:
        counted[r.submission].append(r)
    better = higher_is_better(metric)
    tiers = compute_tiers(records, task, metric, correction=correction, alpha=alpha,  # type: ignore[arg-type]
                          higher_is_better=better)
    summaries = tiers.summaries
    secondary_names = [m for m in ("top1", "top5") if m != metric and any(m in r.metrics for r in records)]
    entries = []
    for sub, rs in by_sub.items():
        finished = counted.get(sub, [])
        example = next((r for r in rs if r.finished), rs[0])
        conflicts = resolved.conflicts_of(task, sub)
        summary = summaries.get(sub) or SubmissionSummary(task, sub, metric, float("nan"), float("nan"), 0, 0, 0,
                                                          missing=sorted(expected_units(example)))
        slug = (submission_slugs or {}).get(sub) or slugify(sub, used_slugs)
        entry = Entry(submission=sub, slug=slug, spec=example.submission_spec, summary=summary,
                      tier=tiers.tiers.get(sub), expected=len(expected_units(example)),
                      conflicting=[c.label for c in conflicts], conflicts=conflicts,
                      failed=[r for r in resolved.failed if r.submission == sub], records=finished,
                      note=tiers.notes.get(sub, ""))
        for m in secondary_names:
            s = summarise(finished, m)
            if s:
                entry.secondary[m] = s[0]
        if any(f"last_epoch/{metric}" in r.metrics for r in finished):
            s = summarise(finished, f"last_epoch/{metric}")
            entry.last_epoch = s[0] if s else None
        entries.append(entry)
    sign = -1.0 if better else 1.0

    def order(e: Entry):
        mean = e.summary.mean
        return (e.tier is None, e.tier or 0, math.isnan(mean), sign * mean if not math.isnan(mean) else 0.0,
                e.submission)

    entries.sort(key=order)
    complete = [e.submission for e in entries if e.complete]
    comparisons = compare_all(records, task, complete, metric, correction=correction,  # type: ignore[arg-type]
                              n_boot=n_boot, alpha=alpha) if len(complete) > 1 else []
    kway = {}
    for e in entries:
        curve = _kway_curve(e.records)
        if curve:
            kway[e.submission] = curve
    specs = {json.dumps(r.task_spec, sort_keys=True, default=str) for r in records}
    harness = sorted({text(r.provenance.get("harness_version", ""), 40) for r in records} - {""})
    return TaskView(name=task, slug=slugify(task), spec=spec, metric=metric, correction=correction, alpha=alpha,
                    entries=entries, tiers=tiers, comparisons=comparisons,
                    reported=reported_for_task(reported or [], spec), chance=_chance(records, metric), kway=kway,
                    harness_versions=harness, n_specs=len(specs), last_update=last_update,
                    design=design_of(spec), caveats=dataset_caveats(spec), failed_attempts=failed_attempts(records))


def assemble(records: Iterable[Record], *, metric: str | None = None, correction: str = "holm", alpha: float = 0.05,
             n_boot: int = 10000, reported: list[ReportedNumber] | None = None,
             last_update: Mapping[str, str] | str | None = None, analyses: Any = None) -> SiteView:
    """All task and submission views. ``last_update``: one ISO date for all tasks, or task -> ISO date;
    ``analyses``: :class:`bench.leaderboard.analyses.AnalysisInputs` (ceilings, stored checklists)."""
    from bench.leaderboard.analyses import AnalysisInputs, attach_analyses

    records = check_records(records)
    if not records:
        raise RecordError("no records to build pages from",
                          fix="run `bench evaluate` first, or pass a results snapshot with --snapshot")
    sub_slugs: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted({r.submission for r in records}):
        sub_slugs[name] = slugify(name, used)
    task_slugs: set[str] = set()
    tasks = []
    for task in sorted({r.task for r in records}):
        lu = last_update.get(task) if isinstance(last_update, Mapping) else last_update
        view = assemble_task(task, records, metric=metric, correction=correction, alpha=alpha, n_boot=n_boot,
                             reported=reported, submission_slugs=sub_slugs, last_update=lu)
        view.slug = slugify(task, task_slugs)
        tasks.append(view)
    attach_analyses(tasks, records, analyses or AnalysisInputs(), sub_slugs)
    subs = []
    for name in sorted(sub_slugs):
        sections = [(t, e) for t in tasks for e in t.entries if e.submission == name]
        if not sections:                          # only failed attempts: listed on the task pages, no page
            continue
        specs: list[dict[str, Any]] = []
        seen: set[str] = set()
        for r in records:
            if r.submission == name:
                key = json.dumps(r.submission_spec, sort_keys=True, default=str)
                if key not in seen:
                    seen.add(key)
                    specs.append(r.submission_spec)
        subs.append(SubmissionView(name=name, slug=sub_slugs[name], specs=specs, sections=sections))
    harness = sorted({v for t in tasks for v in t.harness_versions})
    dates = [t.last_update for t in tasks if t.last_update]
    return SiteView(tasks=tasks, submissions=subs, reported=list(reported or []), harness_versions=harness,
                    last_update=max(dates) if dates else None)


# ---- per-submission tables ---------------------------------------------------------------------------
@dataclass
class SubjectRow:
    split: str
    values: list[float | None]      # one per task seed (None: missing)
    mean: float
    std: float
    n: int


def seed_matrix(entry: Entry, task: TaskView) -> tuple[list[int], list[SubjectRow], list[tuple[int, float, int]]]:
    """(seeds, per-subject rows over seeds, per-seed (seed, mean over subjects, n subjects)) for ``entry``."""
    seeds = [s for s in task.spec.get("seeds", []) if _is_int(s)]
    from bench.config.schema import split_names

    subjects = [s for s in task.dataset.get("subjects", []) if _is_int(s)]
    splits = [name for name, _ in split_names(task.spec.get("scheme", "within-subject"), subjects)]
    values: dict[tuple[str, int], float] = {}
    for r in entry.records:
        v = r.metrics.get(task.metric)
        if v is not None and not math.isnan(v):
            values[(r.split, r.seed)] = float(v)
    extra = sorted({s for s, _ in values} - set(splits))
    rows = []
    for split in splits + extra:
        vals = [values.get((split, seed)) for seed in seeds]
        got = np.array([v for v in vals if v is not None], dtype=float)
        rows.append(SubjectRow(split, vals, float(got.mean()) if len(got) else float("nan"),
                               float(got.std(ddof=1)) if len(got) > 1 else float("nan"), len(got)))
    per_seed = []
    for i, seed in enumerate(seeds):
        got = np.array([row.values[i] for row in rows if row.values[i] is not None], dtype=float)
        per_seed.append((seed, float(got.mean()) if len(got) else float("nan"), len(got)))
    return seeds, rows, per_seed


def heatmap_cells(entries: list[Entry]) -> tuple[list[str], list[str], dict[tuple[str, str], tuple[float, int]]]:
    """Encoder × image-model grid of complete entries: (rows, cols, (encoder, image) -> (best mean, n entries))."""
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in entries:
        if not e.complete or math.isnan(e.summary.mean):
            continue
        image = e.image_model + (f" · {e.alignment}" if e.alignment else "")
        cells[(e.encoder, image)].append(e.summary.mean)
    better = higher_is_better(entries[0].summary.metric) if entries else True
    rows = sorted({k[0] for k in cells})
    cols = sorted({k[1] for k in cells})
    out = {k: ((max(v) if better else min(v)), len(v)) for k, v in cells.items()}
    return rows, cols, out
