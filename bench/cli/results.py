"""``bench results`` / ``bench compare``: read the records' statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import Snapshot, TrackingUri, load_records, make_settings


def register(app: typer.Typer) -> None:
    @app.command("results")
    def results_cmd(
        task: Optional[List[str]] = typer.Option(None, "--task", help="task(s) to show (default: all)"),
        metric: str = typer.Option("top1", "--metric"),
        fmt: str = typer.Option("table", "--format", help="table, json or csv"),
        export: Optional[Path] = typer.Option(None, "--export", help="write the records as a snapshot JSON"),
        snapshot: Optional[Path] = Snapshot, tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Per-submission scores (mean over subjects of seed means, SE, per-subject mean ± std) from the records."""
        settings = make_settings(tracking_uri)
        if export is not None:
            from bench.records.snapshot import export_snapshot

            records = [r for t in (task or [None]) for r in load_records(settings, snapshot, t)]
            export_snapshot(records, export)
            typer.echo(f"wrote {len(records)} records to {export}")
            return
        print_results(settings, snapshot, task, metric, fmt)

    @app.command("compare")
    def compare_cmd(
        submissions: List[Path] = typer.Argument(..., help="two or more submission YAML files (or names)"),
        task: str = typer.Option(..., "--task", help="the task to compare on"),
        metric: str = typer.Option("top1", "--metric"),
        correction: str = typer.Option("holm", "--correction", help="holm, bh or none (across all pairs)"),
        fmt: str = typer.Option("table", "--format", help="table, json or csv"),
        n_boot: int = typer.Option(10000, "--bootstrap", help="bootstrap resamples for the CI"),
        per_item: bool = typer.Option(False, "--per-item",
                                      help="pair per test item (e.g. per reconstructed image) instead of per unit"),
        snapshot: Optional[Path] = Snapshot, tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Paired tests between submissions over matched subjects and (subject, seed) units."""
        import pandas as pd

        from bench.config import load_submission
        from bench.errors import ConfigError
        from bench.stats import compare_all

        if correction not in ("holm", "bh", "none"):
            raise ConfigError(f"unknown correction '{correction}'", field="--correction", fix="use holm, bh or none")
        names = [load_submission(str(s)).name for s in submissions]
        if len(names) < 2:
            raise ConfigError("compare needs at least two submissions", fix="name two or more submission files")
        settings = make_settings(tracking_uri)
        records = load_records(settings, snapshot, task)
        if per_item:
            import itertools

            from bench.stats.items import compare_items

            rows = [_as_dict(compare_items(records, task, a, b, metric))
                    for a, b in itertools.combinations(names, 2)]
            typer.echo(json.dumps(rows, indent=1, default=float) if fmt == "json" else pd.DataFrame(rows).to_string())
            return
        results = compare_all(records, task, names, metric, correction=correction, n_boot=n_boot)
        rows = [c.to_dict() for c in results]
        if fmt == "json":
            typer.echo(json.dumps(rows, indent=1))
            return
        frame = pd.DataFrame(rows)
        if fmt == "csv":
            typer.echo(frame.to_csv(index=False))
            return
        for c in results:
            verdict = ("a > b" if c.mean_diff > 0 else "a < b") if (c.p_corrected or 1) < 0.05 else "not significant"
            typer.echo(
                f"{c.a} vs {c.b} on {c.task} ({c.metric}), {c.n_subjects} subjects / {c.n_units} units matched\n"
                f"  mean a={c.mean_a:.4f}  b={c.mean_b:.4f}  diff={c.mean_diff:+.4f}  "
                f"{int(c.ci_level * 100)}% bootstrap CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}]\n"
                f"  paired t (subjects): t={c.t_subject:.3f} p={c.p_subject:.4g}  "
                f"p_{c.correction}={c.p_corrected:.4g}\n"
                f"  paired t (units):    t={c.t_unit:.3f} p={c.p_unit:.4g}\n"
                f"  Wilcoxon (subjects): W={c.wilcoxon_stat:.3f} p={c.p_wilcoxon:.4g}   Cohen's d_z={c.cohens_dz:.3f}\n"
                f"  verdict at 0.05 ({c.correction}-corrected): {verdict}"
                + (f"\n  unmatched units (left out): {', '.join(c.unmatched)}" if c.unmatched else ""))


def _as_dict(result) -> dict:
    import dataclasses

    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)


def print_results(settings, snapshot, tasks, metric: str, fmt: str) -> None:
    import pandas as pd

    from bench.stats import summarise

    records = [r for t in (tasks or [None]) for r in load_records(settings, snapshot, t)]
    summaries = summarise(records, metric)
    if fmt == "json":
        typer.echo(json.dumps([s.to_dict() for s in summaries], indent=1))
        return
    rows = [{"task": s.task, "submission": s.submission, metric: s.mean, "se": s.se, "subjects": s.n_subjects,
             "seeds": s.n_seeds, "units": s.n_units, "complete": "yes" if s.complete else f"no ({len(s.missing)} missing)"}
            for s in summaries]
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        typer.echo(frame.to_csv(index=False))
        return
    if frame.empty:
        typer.echo("no finished records")
        return
    typer.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for s in summaries:
        per = "  ".join(f"{k}: {m:.3f}±{(0 if n < 2 else sd):.3f} (n={n})" for k, (m, sd, n) in s.per_subject.items())
        typer.echo(f"  {s.submission} per subject (mean±std over seeds): {per}")
