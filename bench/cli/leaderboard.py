"""``bench leaderboard build|export|import``: the static leaderboard site and results snapshots.

    bench leaderboard build --out leaderboard/site                       # from the MLflow store
    bench leaderboard build --out leaderboard/site --snapshot results.json
    bench leaderboard build --out site --snapshot leaderboard/submitted/ --tracking-uri sqlite:///mlflow.db
    bench leaderboard export --out results.json [--task T]               # records -> snapshot JSON
    bench leaderboard import results.json [--tracking-uri URI]           # snapshot -> MLflow (new keys only)
    bench leaderboard verify results.json --sample 3                      # keys + 3 re-run units (bench/cli/analyze.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import TrackingUri, make_settings


def register(app: typer.Typer) -> None:
    """Add the ``leaderboard`` command group to the main app."""
    group = typer.Typer(help="Build the static leaderboard site; export/import results snapshots.",
                        no_args_is_help=True, add_completion=False)

    @group.command("build")
    def build_cmd(
        out: Path = typer.Option(..., "--out", help="folder to write the site into (e.g. leaderboard/site)"),
        snapshot: Optional[List[Path]] = typer.Option(
            None, "--snapshot", help="results snapshot JSON, or a folder of them (repeatable); without "
                                     "--tracking-uri only the snapshots are used"),
        tracking_uri: Optional[str] = TrackingUri,
        metric: Optional[str] = typer.Option(None, "--metric", help="metric to rank and test (default: each "
                                                                    "task's headline metric, e.g. top1)"),
        correction: str = typer.Option("holm", "--correction", help="holm or bh (or none), declared on the pages"),
        alpha: float = typer.Option(0.05, "--alpha", help="significance level of the tiers"),
        title: str = typer.Option("brainvis-bench leaderboard", "--title", help="site title"),
        n_boot: int = typer.Option(10000, "--bootstrap", help="bootstrap resamples for the comparison CIs"),
        analyses: Optional[List[Path]] = typer.Option(
            None, "--analyses", help="noise ceilings (bench analyze ceiling --out X.ceiling.json) and validity "
                                     "checklists (bench check --out X.checks.json): files or folders (repeatable); "
                                     "such files in a --snapshot folder are read too"),
    ) -> None:
        """Write the static site (index, one page per task and per submission, plots) from the records."""
        from bench.errors import ConfigError
        from bench.leaderboard import build_site, load_sources
        from bench.leaderboard.analyses import load_analyses

        if correction not in ("holm", "bh", "none"):
            raise ConfigError(f"unknown correction '{correction}'", field="--correction", fix="use holm, bh or none")
        if not 0 < alpha < 1:
            raise ConfigError(f"alpha {alpha} is not in (0, 1)", field="--alpha", fix="e.g. --alpha 0.05")
        uri = None
        if tracking_uri or not snapshot:
            uri = make_settings(tracking_uri).tracking_uri
        records, last = load_sources(uri, snapshot or [])
        inputs = load_analyses([p for p in (snapshot or []) if p.is_dir()] + list(analyses or []))
        files = build_site(records, out, title=title, metric=metric, correction=correction, alpha=alpha,
                           n_boot=n_boot, last_update=last, analyses=inputs)
        pages = [f for f in files if f.suffix == ".html"]
        typer.echo(f"wrote {len(pages)} pages ({len(files)} files) from {len(records)} records to {out}; "
                   f"open {out / 'index.html'}")

    @group.command("export")
    def export_cmd(
        out: Path = typer.Option(..., "--out", help="snapshot JSON file to write"),
        task: Optional[List[str]] = typer.Option(None, "--task", help="only these task(s) (default: all)"),
        include_failed: bool = typer.Option(False, "--include-failed", help="also export failed units"),
        tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Export records from the MLflow store to a results snapshot (for rebuilding pages or a pull request)."""
        from bench.records.mlflow_store import RecordStore
        from bench.records.snapshot import export_snapshot

        store = RecordStore(make_settings(tracking_uri).tracking_uri, create=False)
        records = [r for t in (task or [None]) for r in store.records(task=t, include_failed=include_failed)]
        export_snapshot(records, out)
        typer.echo(f"wrote {len(records)} records to {out}")

    @group.command("import")
    def import_cmd(
        snapshot: Path = typer.Argument(..., help="results snapshot JSON to import"),
        tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Write a snapshot's finished records into the MLflow store, skipping keys it already holds."""
        from bench.analysis.verify import attach_verification
        from bench.leaderboard import import_into_store
        from bench.records.snapshot import import_snapshot

        records = attach_verification(import_snapshot(snapshot), snapshot)   # only a real .verification.json counts
        report = import_into_store(records, make_settings(tracking_uri).tracking_uri, label=f"import {snapshot.name}")
        typer.echo(report.summary())

    app.add_typer(group, name="leaderboard")
