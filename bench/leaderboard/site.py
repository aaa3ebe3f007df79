"""Write the static site: records -> views -> plots (SVG files) -> pages (HTML) -> a folder to publish as is.

Layout of ``out_dir``::

    index.html                  all tasks, their top entries, last update, harness version
    tasks/<task>.html           leaderboard table with tiers, plots, pairwise comparisons, reported numbers
    submissions/<name>.html     resolved YAML, per-subject and per-seed tables, curves, comparisons, provenance
    reported.html               every reported number, by dataset, paper and table
    about.html                  the statistics, in words
    plots/*.svg                 figures (matplotlib, text as outlines)
    factorial/<task>.html       the task's encoder x image-model factorial analysis (complete designs only)
    data/<task>.csv, .json      each task's results with every metric: one CSV row per unit; JSON per entry,
                                per metric and per subject (linked from the task page)
    assets/site.css, sort.js    the only stylesheet and script (no external resources)
    leaderboard.json            the tables in machine-readable form
    .nojekyll                   GitHub Pages: serve files as they are

File names come from slugs (unsafe names get a hash suffix), every link is relative, and the pages
work from ``file://``. Rebuilding into the same folder replaces what a previous build wrote and leaves
other files (a CNAME, say) alone; a non-empty folder that no build wrote is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from bench import HARNESS_VERSION
from bench.errors import RecordError
from bench.leaderboard import plots
from bench.leaderboard.data import (MIN_INTERVAL_N, SiteView, TaskView, assemble, fmt, heatmap_cells, interval,
                                    metric_label, seed_matrix)
from bench.leaderboard.reported import (DATASET_NAMES, ReportedNumber, load_reported, reported_for_task,
                                       reported_mismatches)
from bench.leaderboard.render import render
from bench.leaderboard.templates import CSP, CSS, JS
from bench.records.schema import Record

MARKER = ".brainvis-leaderboard"
GENERATED = ("index.html", "reported.html", "about.html", "leaderboard.json", ".nojekyll", "tasks", "submissions",
             "plots", "assets", "data", "factorial")
DEFAULT_TITLE = "brainvis-bench leaderboard"


def _prepare(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / MARKER
    if any(out_dir.iterdir()) and not marker.exists():
        raise RecordError("the output folder is not empty and was not written by `bench leaderboard build`",
                          where=out_dir, fix="choose an empty or new folder (or one a previous build wrote)")
    for name in GENERATED:
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    marker.write_text("written by `bench leaderboard build`; files listed in bench/leaderboard/site.py are "
                      "replaced on rebuild\n")


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[Path] = []

    def write(self, rel: str, content: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        self.written.append(path)
        return path


def svg_size(svg: bytes) -> tuple[int, int]:
    """(width, height) in CSS pixels of a matplotlib SVG (its size is given in pt; 1 pt = 4/3 px)."""
    head = svg[:4000].decode("utf-8", "replace")
    m = re.search(r'<svg[^>]*?\swidth="([\d.]+)(pt|px)?"[^>]*?\sheight="([\d.]+)(pt|px)?"', head, re.S)
    if not m:
        return 640, 400
    k = 4 / 3 if m.group(2) in (None, "pt") else 1.0
    return round(float(m.group(1)) * k), round(float(m.group(3)) * k)


def _figure(writer: _Writer, rel: str, svg: bytes | None, alt: str, caption: str) -> dict[str, Any] | None:
    if svg is None:
        return None
    writer.write(rel, svg)
    width, height = svg_size(svg)
    return {"path": rel, "alt": alt, "caption": caption, "width": width, "height": height}


def _names(values: list[tuple[str, str]], limit: int = 8) -> str:
    shown = "; ".join(f"{n} {v}" for n, v in values[:limit])
    return shown + (f"; and {len(values) - limit} more" if len(values) > limit else "")


def _alt_subjects(t: TaskView) -> str:
    unit = "seeds" if t.design and t.design.pooled else "subjects"
    means = [(e.submission, fmt(e.summary.mean, t.metric)) for e in t.entries]
    chance = f"; chance {fmt(t.chance, t.metric)}" if t.chance is not None else ""
    return (f"Dot plot of {metric_label(t.metric)} per subject for {len(t.entries)} entries, best first, each with its "
            f"mean and 95% interval across {unit}: {_names(means)}{chance}.")


def _alt_grid(t: TaskView) -> str:
    rows, cols, cells = heatmap_cells(t.entries)
    shown = [(f"{r} × {c}", fmt(v, t.metric)) for (r, c), (v, _) in sorted(cells.items())]
    return f"Heatmap of the best {metric_label(t.metric)} per brain encoder × image model: {_names(shown)}."


def _alt_kway(curves: dict, names: list[str]) -> str:
    names = [n for n in names if n in curves]
    ks = sorted({k for n in names for k in curves[n].ks})
    if not ks:
        return "Top-1 accuracy against k."
    def at(k: int) -> list[tuple[str, str]]:
        return [(n, f"{100 * curves[n].means[curves[n].ks.index(k)]:.1f}%") for n in names if k in curves[n].ks]
    return (f"Line plot of top-1 accuracy (%) against the number of candidates k ({', '.join(map(str, ks))}) for "
            f"{len(names)} entr{'y' if len(names) == 1 else 'ies'}, with chance 1/k: at k = {ks[0]}: "
            f"{_names(at(ks[0]))}; at k = {ks[-1]}: {_names(at(ks[-1]))}.")


def _alt_seeds(entry, rows, seeds, metric: str) -> str:
    means = [r.mean for r in rows if not math.isnan(r.mean)]
    span = f"; subject means from {fmt(min(means), metric)} to {fmt(max(means), metric)}" if means else ""
    return (f"Dot plot of {metric_label(metric)} of {entry.submission} for each of {len(rows)} subjects and "
            f"{len(seeds)} seeds, with each subject's mean ± std over seeds{span}.")


def _alt_curves(entry) -> str:
    from bench.leaderboard.plots import curve_panels

    names = sorted({k for r in entry.records for k, v in r.curves.items() if v})
    panels = ["loss (" + ", ".join(p) + ")" if "loss" in p[0] else p[0] for p in curve_panels(names)]
    chosen = sorted(r.chosen_epoch for r in entry.records if r.chosen_epoch)
    epochs = f"; epochs chosen on validation: {chosen[0]}–{chosen[-1]}" if chosen else ""
    return (f"Per-epoch learning curves of {len(entry.records)} units of {entry.submission}, one quantity per panel: "
            f"{', '.join(panels)}{epochs}.")


def _task_figures(writer: _Writer, t: TaskView) -> list[dict[str, str]]:
    figs = [
        _figure(writer, f"plots/task-{t.slug}-subjects.svg", plots.task_subject_dots(t.entries, t.metric, t.chance),
                _alt_subjects(t),
                "Per-subject scores: each dot is one subject's mean over seeds; the large marker is the entry's mean "
                "and the bar its 95% t-interval across subjects, clipped to the metric's range (an arrow marks a "
                f"clipped end; no bar with fewer than {MIN_INTERVAL_N}); hollow: incomplete. Markers and line "
                "styles differ per entry. Dashed: chance."),
        _figure(writer, f"plots/task-{t.slug}-grid.svg", plots.grid_heatmap(t.entries, t.metric),
                _alt_grid(t),
                "Brain encoder × image model (from the submissions' tags or plug-in names): mean of complete "
                "entries; when several entries share a cell, the best is shown."),
        _figure(writer, f"plots/task-{t.slug}-kway.svg",
                plots.kway_curves(t.kway, [e.submission for e in t.entries]),
                _alt_kway(t.kway, [e.submission for e in t.entries]),
                "Per-k retrieval: top-1 accuracy among k candidates (seeded distractors, identical across "
                "entries), mean ± SE across subjects; the largest k is the full gallery. Dashed: chance 1/k."),
    ]
    return [f for f in figs if f]


def _submission_section(writer: _Writer, t: TaskView, entry, slug: str, links: dict[str, str]) -> dict[str, Any]:
    seeds, rows, per_seed = seed_matrix(entry, t)
    base = f"plots/sub-{slug}-{t.slug}"
    figs = [
        _figure(writer, f"{base}-seeds.svg", plots.submission_seed_dots(rows, seeds, t.metric),
                _alt_seeds(entry, rows, seeds, t.metric),
                "Every (subject, seed) unit (one marker shape per seed); black: the subject's mean ± std over seeds."),
        _figure(writer, f"{base}-curves.svg", plots.learning_curves(entry.records), _alt_curves(entry),
                "Per-epoch curves of every unit (thin) and their mean (bold), one quantity per panel; triangles "
                "mark the epoch chosen on validation."),
        _figure(writer, f"{base}-kway.svg", plots.kway_curves({entry.submission: t.kway[entry.submission]})
                if entry.submission in t.kway else None,
                _alt_kway(t.kway, [entry.submission]),
                "Per-k retrieval curve, mean ± SE across subjects; dashed: chance 1/k."),
    ]
    return {"seeds": seeds, "rows": rows, "per_seed": per_seed, "figures": [f for f in figs if f],
            "comparisons": t.comparisons_for(entry.submission) if entry.complete else [], "links": links}


def _reported_page_data(reported: list[ReportedNumber], site: SiteView) -> dict[str, Any]:
    papers: dict[str, dict[str, Any]] = {}
    for r in reported:
        p = papers.setdefault(r.paper, {"label": r.paper, "citation": r.citation, "title": r.title, "count": 0})
        p["count"] += 1
    datasets = []
    for key, name in DATASET_NAMES.items():
        rows = [r for r in reported if r.dataset == key]
        if not rows:
            continue
        groups: dict[tuple[str, str, str], list[ReportedNumber]] = {}
        for r in rows:
            groups.setdefault((r.paper, r.table, r.task_text), []).append(r)
        out = []
        for (paper, table, task_text), grows in groups.items():
            shown = [t for t in site.tasks if reported_for_task(grows[:1], t.spec)]
            out.append({"paper": paper, "table": table, "task_text": task_text, "rows": grows, "tasks": shown})
        datasets.append({"key": key, "name": name, "groups": out})
    return {"papers": list(papers.values()), "datasets": datasets}


def _num(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, recursively through lists and dicts."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _num(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_num(v) for v in x]
    return x


def task_csv(records: list[Record]) -> str:
    """One row per unit record of a task: identity, status (finished / failed / conflicting), every metric."""
    from bench.stats.entries import first_line, resolve_entries

    res = resolve_entries(records)
    counted = {id(r) for r in res.records}
    conflicting = {(c.submission, c.split, c.seed) for c in res.conflicts}
    metrics = sorted({k for r in records if r.finished for k in r.metrics})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["task", "submission", "split", "subject", "seed", "status", "counted", "key", "error", *metrics])
    for r in sorted(records, key=lambda r: (r.submission, r.split, r.seed, r.status, r.key)):
        status = "conflicting" if (r.submission, r.split, r.seed) in conflicting and r.finished else r.status
        values = ["" if not isinstance(r.metrics.get(m), (int, float)) or not math.isfinite(r.metrics[m])
                  else repr(float(r.metrics[m])) for m in metrics]
        writer.writerow([r.task, r.submission, r.split, r.subject, r.seed, status, id(r) in counted, r.key,
                         "" if r.finished else first_line(r.error), *values])
    return out.getvalue()


def task_results_json(t: TaskView, records: list[Record]) -> str:
    """A task's results with every metric: per entry and metric the score, SE, 95% CI and per-subject values."""
    from bench.stats import summarise

    metrics = sorted({k for r in records if r.finished for k in r.metrics})
    per_metric = {m: {s.submission: s for s in summarise(records, m)} for m in metrics}
    entries = []
    for e in t.entries:
        scores = {}
        for m in metrics:
            s = per_metric[m].get(e.submission)
            if s is None or s.n_units == 0:
                continue
            iv = interval(s, m)
            scores[m] = {"mean": s.mean, "se": s.se, "se_over": s.pair_by,
                         "ci95": [iv.low, iv.high] if iv else None, "ci95_clipped": iv.clipped if iv else None,
                         "n_subjects": s.n_subjects, "n_seeds": s.n_seeds, "n_units": s.n_units,
                         "per_subject": {k: {"mean": mm, "std": sd, "n_seeds": n}
                                         for k, (mm, sd, n) in s.per_subject.items()}}
        entries.append({"submission": e.submission, "tier": e.tier, "complete": e.complete, "status": e.status,
                        "tier_note": e.note or None, "conflicts": [c.to_dict() for c in e.conflicts],
                        "failed": [{"unit": u, "error": err} for u, err in e.failed_lines], "metrics": scores})
    doc = {"schema": "brainvis-bench/task-results", "schema_version": 1, "task": t.name,
           "version": t.spec.get("version"),
           "variant": t.variant, "headline_metric": t.metric, "metrics": metrics,
           "design": {"scheme": t.design.scheme, "paired_over": t.design.pair_by} if t.design else None,
           "correction": t.correction, "alpha": t.alpha, "power": t.power, "tiers_withheld": t.tiers.withheld,
           "caveats": list(t.caveats), "entries": entries,
           "failed_attempts": [a.to_dict() for a in t.failed_attempts],
           "comparisons": [c.to_dict() for c in t.comparisons]}
    return json.dumps(_num(doc), indent=1, allow_nan=False, default=str)


def _summary_json(site: SiteView, built: str) -> str:
    tasks = []
    for t in site.tasks:
        tasks.append({
            "task": t.name, "version": t.spec.get("version"), "variant": t.variant, "metric": t.metric,
            "correction": t.correction, "alpha": t.alpha, "chance": _num(t.chance), "last_update": t.last_update,
            "design": {"scheme": t.design.scheme, "paired_over": t.design.pair_by} if t.design else None,
            "tiers_withheld": t.tiers.withheld, "min_pairs": t.tiers.min_pairs, "n_pairs": t.tiers.n_pairs,
            "power": t.power, "caveats": list(t.caveats),
            "entries": [{"submission": e.submission, "tier": e.tier, "mean": _num(e.summary.mean),
                         "se": _num(e.summary.se), "n_subjects": e.summary.n_subjects, "n_seeds": e.summary.n_seeds,
                         "n_units": e.summary.n_units, "expected_units": e.expected, "complete": e.complete,
                         "status": e.status, "encoder": e.encoder, "image_model": e.image_model,
                         "alignment": e.alignment, "tier_note": e.note or None,
                         "conflicts": [c.to_dict() for c in e.conflicts],
                         "checks": e.checks.to_dict()["checks"] if e.checks is not None else None,
                         "verification": e.verification} for e in t.entries],
            "noise_ceiling": {"metric": t.ceiling.metric, "mean": t.ceiling.mean, "chance": t.ceiling.chance,
                              "method": t.ceiling.method, "subjects": t.ceiling.subjects,
                              "fraction_of_ceiling": t.ceiling.fractions, "stale": t.ceiling.stale}
            if t.ceiling is not None else None,
            "factorial": ({"page": f"factorial/{t.slug}.html", **t.factorial.result.to_dict()}
                          if t.factorial is not None and t.factorial.available else
                          {"page": None, "missing": t.factorial.missing} if t.factorial is not None else None),
            "reported": [{"label": r.label, "entry": r.entry, "subject": r.subject, "metric": r.metric,
                          "value": r.value, "spread": r.spread, "source": r.source} for r in t.reported],
        })
    return json.dumps(_num({"schema": "brainvis-bench/leaderboard", "schema_version": 1, "built": built,
                            "harness_version": HARNESS_VERSION, "tasks": tasks}), indent=1, allow_nan=False,
                      default=str)


def build_site(records: Iterable[Record], out_dir: Path | str, *, title: str = DEFAULT_TITLE,
               metric: str | None = None, correction: str = "holm", alpha: float = 0.05, n_boot: int = 10000,
               reported: list[ReportedNumber] | None = None, last_update: Mapping[str, str] | str | None = None,
               built: str | None = None, analyses: Any = None) -> list[Path]:
    """Write the static leaderboard site for ``records`` into ``out_dir``; returns the files written.

    metric:      the metric tables, tiers and comparisons use (default: each task's ``headline_metric``).
    correction:  ``holm`` (family-wise) or ``bh`` (Benjamini–Hochberg), declared on every page; ``none`` too.
    reported:    reported numbers to show (default: the packaged paper CSVs).
    last_update: ISO date(s) of the latest results, one for all tasks or per task (shown on the pages).
    built:       the build time shown on the pages (default: now, UTC).
    analyses:    :class:`bench.leaderboard.analyses.AnalysisInputs` (noise ceilings, ``bench check`` results).
    """
    if correction not in ("holm", "bh", "none"):
        raise RecordError(f"unknown correction '{correction}'", field="correction", fix="use holm, bh or none")
    reported = load_reported() if reported is None else reported
    records = list(records)
    site = assemble(records, metric=metric, correction=correction, alpha=alpha, n_boot=n_boot, reported=reported,
                    last_update=last_update, analyses=analyses)
    built = built or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = Path(out_dir)
    _prepare(out)
    w = _Writer(out)
    common = {"site_title": title, "harness_version": HARNESS_VERSION, "built": built, "csp": CSP,
              "last_update": site.last_update}
    w.write("assets/site.css", CSS)
    w.write("assets/sort.js", JS)
    w.write(".nojekyll", "")

    links_from_sub = {s.name: f"{s.slug}.html" for s in site.submissions}
    task_figs = {t.name: _task_figures(w, t) for t in site.tasks}
    for t in site.tasks:
        mine = [r for r in records if r.task == t.name]
        w.write(f"data/{t.slug}.csv", task_csv(mine))
        w.write(f"data/{t.slug}.json", task_results_json(t, mine))
        description = (f"{t.name}: {len(t.entries)} entries ranked by {metric_label(t.metric)}, with significance "
                       f"tiers from paired tests, power, per-subject plots and downloadable results (CSV, JSON).")
        w.write(f"tasks/{t.slug}.html", render("task.html", root="../", page_title=t.name, t=t,
                                               figures=task_figs[t.name], description=description,
                                               mismatched=reported_mismatches(reported, t.spec), **common))
    for t in site.tasks:
        if t.factorial is None or not t.factorial.available:
            continue
        res = t.factorial.result
        fig = _figure(w, f"plots/factorial-{t.slug}.svg", plots.factorial_interaction(res),
                      f"Interaction plot of {metric_label(res.metric)} on {t.name}: mean per {res.factors[0]} level, "
                      + (f"one line per {res.factors[1]} level" if len(res.factors) > 1 else "one line")
                      + f", ± SE over {res.n_blocks} {res.block}s.",
                      f"Mean {metric_label(res.metric)} per cell ± SE over {res.block}s; parallel lines mean no "
                      "interaction. Markers and dashes differ per line.")
        w.write(f"factorial/{t.slug}.html", render("factorial.html", root="../", page_title=f"{t.name}: factorial",
                                                   t=t, f=res, figure=fig, cells=res.cells.to_dict(orient="records"),
                                                   description=f"Factorial analysis of {t.name}: "
                                                               f"{' x '.join(res.factors)}.", **common))
    for s in site.submissions:
        sections = [_submission_section(w, t, e, s.slug, links_from_sub) for t, e in s.sections]
        yamls = [yaml.safe_dump(spec, sort_keys=False, allow_unicode=True) for spec in s.specs]
        description = (f"Submission {s.name}: scores, per-subject and per-seed results, learning curves and paired "
                       f"comparisons on {len(s.sections)} task(s).")
        w.write(f"submissions/{s.slug}.html", render("submission.html", root="../", page_title=s.name, s=s,
                                                     sections=sections, yamls=yamls, description=description,
                                                     **common))
    w.write("index.html", render("index.html", root="", page_title="Tasks", site=site,
                                 description=f"{title}: {len(site.tasks)} visual-decoding tasks, entries ranked with "
                                             f"significance tiers from paired tests over subjects and seeds.",
                                 **common))
    w.write("reported.html", render("reported.html", root="", page_title="Reported in papers",
                                    **_reported_page_data(reported, site), **common))
    tier_text = site.tasks[0].tiers.describe() if site.tasks else ""
    from bench.stats.design import MIN_PAIRS

    from bench.analysis import method_texts

    w.write("about.html", render("about.html", root="", page_title="Method", tier_text=tier_text,
                                 correction=correction, min_pairs=MIN_PAIRS, analyses=method_texts(), **common))
    w.write("leaderboard.json", _summary_json(site, built))
    return sorted(w.written)
