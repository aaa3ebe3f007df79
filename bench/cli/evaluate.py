"""``bench evaluate``: run the units of a plan (resume, executors, dry run)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import CacheDir, DataRoot, Device, TrackingUri, WeightsDir, make_settings
from bench.cli.results import print_results


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        submissions: List[Path] = typer.Argument(..., help="submission YAML files"),
        task: Optional[List[str]] = typer.Option(None, "--task", help="task(s) to run (default: the submission's)"),
        subjects: Optional[List[int]] = typer.Option(None, "--subjects", help="subset of subjects, e.g. --subjects 1 2"),
        seeds: Optional[List[int]] = typer.Option(None, "--seeds", help="subset of seeds, e.g. --seeds 0 1"),
        executor: str = typer.Option("local", "--executor", help="local or ray"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (auto, host:port)"),
        cpus_per_unit: float = typer.Option(1.0, "--cpus-per-unit", help="Ray: CPUs reserved per unit (= torch threads)"),
        gpus_per_unit: float = typer.Option(0.0, "--gpus-per-unit",
                                            help="Ray: GPUs per unit, fractional ok (0.25 = 4 units share a GPU)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="plan and key the units, run nothing"),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bars"),
        tracking_uri: Optional[str] = TrackingUri, data_root: Optional[Path] = DataRoot,
        cache_dir: Optional[Path] = CacheDir, weights_dir: Optional[Path] = WeightsDir,
        device: Optional[str] = Device,
    ) -> None:
        """Run every subject x seed unit the task(s) demand; finished units are skipped (resume)."""
        from bench.runner import evaluate

        settings = make_settings(tracking_uri, data_root, cache_dir, weights_dir, device)
        options = ({"address": ray_address, "num_cpus_per_unit": cpus_per_unit, "num_gpus_per_unit": gpus_per_unit}
                   if executor == "ray" else {})
        report = evaluate([str(s) for s in submissions], tasks=task, subjects=subjects, seeds=seeds,
                          settings=settings, executor=executor, executor_options=options,
                          progress=not no_progress, dry_run=dry_run)
        if dry_run:
            for p in report.planned:
                state = "finished" if p in report.skipped else ("cannot run: " + p.error if p.error else "to run")
                typer.echo(f"{p.key[:12]}  {p.unit.label}  [{state}]")
        typer.echo(report.summary())
        for r in report.failed:
            typer.secho(f"FAILED {r.submission} {r.task} {r.split} seed {r.seed}: {r.error}", fg=typer.colors.RED,
                        err=True)
        if report.records or report.skipped:
            print_results(settings, None, sorted({p.unit.task.name for p in report.planned}), "top1", "table")
        if report.failed:
            raise typer.Exit(code=1)

