"""Write the static site: records -> views -> plots (SVG files) -> pages (HTML) -> a folder to publish as is.

Layout of ``out_dir``::

    index.html                  all tasks, their top entries, last update, harness version
    tasks/<task>.html           leaderboard table with tiers, plots, pairwise comparisons, reported numbers
    submissions/<name>.html     resolved YAML, per-subject and per-seed tables, curves, comparisons, provenance
    reported.html               every reported number, by dataset, paper and table
    about.html                  the statistics, in words
    plots/*.svg                 figures (matplotlib, text as outlines)
    assets/site.css, sort.js    the only stylesheet and script (no external resources)
    leaderboard.json            the tables in machine-readable form
    .nojekyll                   GitHub Pages: serve files as they are

File names come from slugs (unsafe names get a hash suffix), every link is relative, and the pages
work from ``file://``. Rebuilding into the same folder replaces what a previous build wrote and leaves
other files (a CNAME, say) alone; a non-empty folder that no build wrote is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from bench import HARNESS_VERSION
from bench.errors import RecordError
from bench.leaderboard import plots
from bench.leaderboard.data import SiteView, TaskView, assemble, metric_label, seed_matrix
from bench.leaderboard.reported import DATASET_NAMES, ReportedNumber, load_reported, reported_for_task
from bench.leaderboard.render import render
from bench.leaderboard.templates import CSP, CSS, JS
from bench.records.schema import Record

MARKER = ".brainvis-leaderboard"
GENERATED = ("index.html", "reported.html", "about.html", "leaderboard.json", ".nojekyll", "tasks", "submissions",
             "plots", "assets")
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


def _figure(writer: _Writer, rel: str, svg: bytes | None, alt: str, caption: str) -> dict[str, str] | None:
    if svg is None:
        return None
    writer.write(rel, svg)
    return {"path": rel, "alt": alt, "caption": caption}


def _task_figures(writer: _Writer, t: TaskView) -> list[dict[str, str]]:
    figs = [
        _figure(writer, f"plots/task-{t.slug}-subjects.svg", plots.task_subject_dots(t.entries, t.metric, t.chance),
                f"Per-subject {metric_label(t.metric)} of every entry",
                "Per-subject scores: each dot is one subject's mean over seeds; the diamond is the entry's mean "
                "and the bar its 95% t-interval across subjects (hollow: incomplete or not tiered). Dashed: chance."),
        _figure(writer, f"plots/task-{t.slug}-grid.svg", plots.grid_heatmap(t.entries, t.metric),
                "Brain encoder by image model heatmap",
                "Brain encoder × image model (from the submissions' tags or plug-in names): mean of complete "
                "entries; when several entries share a cell, the best is shown."),
        _figure(writer, f"plots/task-{t.slug}-kway.svg",
                plots.kway_curves(t.kway, [e.submission for e in t.entries]),
                "Top-1 accuracy against the number of candidates k",
                "Per-k retrieval: top-1 accuracy among k candidates (seeded distractors, identical across "
                "entries), mean ± SE across subjects; the largest k is the full gallery. Dashed: chance 1/k."),
    ]
    return [f for f in figs if f]


def _submission_section(writer: _Writer, t: TaskView, entry, slug: str, links: dict[str, str]) -> dict[str, Any]:
    seeds, rows, per_seed = seed_matrix(entry, t)
    base = f"plots/sub-{slug}-{t.slug}"
    figs = [
        _figure(writer, f"{base}-seeds.svg", plots.submission_seed_dots(rows, seeds, t.metric),
                f"{metric_label(t.metric)} per subject and seed",
                "Every (subject, seed) unit; black: the subject's mean ± std over seeds."),
        _figure(writer, f"{base}-curves.svg", plots.learning_curves(entry.records),
                "Learning curves", "Per-epoch curves of every unit (thin) and their mean (bold); triangles mark "
                "the epoch chosen on validation."),
        _figure(writer, f"{base}-kway.svg", plots.kway_curves({entry.submission: t.kway[entry.submission]})
                if entry.submission in t.kway else None,
                "Top-1 accuracy against k", "Per-k retrieval curve, mean ± SE across subjects; dashed: chance 1/k."),
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
                         "conflicts": [c.to_dict() for c in e.conflicts]} for e in t.entries],
            "reported": [{"label": r.label, "entry": r.entry, "subject": r.subject, "metric": r.metric,
                          "value": r.value, "spread": r.spread, "source": r.source} for r in t.reported],
        })
    return json.dumps(_num({"schema": "brainvis-bench/leaderboard", "schema_version": 1, "built": built,
                            "harness_version": HARNESS_VERSION, "tasks": tasks}), indent=1, allow_nan=False,
                      default=str)


def build_site(records: Iterable[Record], out_dir: Path | str, *, title: str = DEFAULT_TITLE,
               metric: str | None = None, correction: str = "holm", alpha: float = 0.05, n_boot: int = 10000,
               reported: list[ReportedNumber] | None = None, last_update: Mapping[str, str] | str | None = None,
               built: str | None = None) -> list[Path]:
    """Write the static leaderboard site for ``records`` into ``out_dir``; returns the files written.

    metric:      the metric tables, tiers and comparisons use (default: each task's ``headline_metric``).
    correction:  ``holm`` (family-wise) or ``bh`` (Benjamini–Hochberg), declared on every page; ``none`` too.
    reported:    reported numbers to show (default: the packaged paper CSVs).
    last_update: ISO date(s) of the latest results, one for all tasks or per task (shown on the pages).
    built:       the build time shown on the pages (default: now, UTC).
    """
    if correction not in ("holm", "bh", "none"):
        raise RecordError(f"unknown correction '{correction}'", field="correction", fix="use holm, bh or none")
    reported = load_reported() if reported is None else reported
    site = assemble(records, metric=metric, correction=correction, alpha=alpha, n_boot=n_boot, reported=reported,
                    last_update=last_update)
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
        w.write(f"tasks/{t.slug}.html", render("task.html", root="../", page_title=t.name, t=t,
                                               figures=task_figs[t.name], **common))
    for s in site.submissions:
        sections = [_submission_section(w, t, e, s.slug, links_from_sub) for t, e in s.sections]
        yamls = [yaml.safe_dump(spec, sort_keys=False, allow_unicode=True) for spec in s.specs]
        w.write(f"submissions/{s.slug}.html", render("submission.html", root="../", page_title=s.name, s=s,
                                                     sections=sections, yamls=yamls, **common))
    w.write("index.html", render("index.html", root="", page_title="Tasks", site=site, **common))
    w.write("reported.html", render("reported.html", root="", page_title="Reported in papers",
                                    **_reported_page_data(reported, site), **common))
    tier_text = site.tasks[0].tiers.describe() if site.tasks else ""
    from bench.stats.design import MIN_PAIRS

    w.write("about.html", render("about.html", root="", page_title="Method", tier_text=tier_text,
                                 correction=correction, min_pairs=MIN_PAIRS, **common))
    w.write("leaderboard.json", _summary_json(site, built))
    return sorted(w.written)
