"""``bench evaluate``: check everything once (preflight), then run the units of a plan (resume, executors)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import CacheDir, DataRoot, Device, TrackingUri, WeightsDir, make_settings
from bench.cli.results import print_results


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        submissions: List[Path] = typer.Argument(..., metavar="SUBMISSION",
                                                 help="submission YAML files (or names)"),
        task: Optional[List[str]] = typer.Option(None, "--task", metavar="TASK",
                                                 help="task(s) to run (default: the submission's)"),
        subjects: Optional[List[int]] = typer.Option(None, "--subjects", metavar="N",
                                                     help="subset of subjects, e.g. --subjects 1 2"),
        seeds: Optional[List[int]] = typer.Option(None, "--seeds", metavar="N", help="subset of seeds, e.g. --seeds 0 1"),
        executor: str = typer.Option("local", "--executor", metavar="local|ray", help="where units run"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="ADDRESS",
                                                  help="Ray cluster address (auto, host:port)"),
        cpus_per_unit: float = typer.Option(1.0, "--cpus-per-unit", help="Ray: CPUs reserved per unit (= torch threads)"),
        gpus_per_unit: float = typer.Option(0.0, "--gpus-per-unit",
                                            help="Ray: GPUs per unit, fractional ok (0.25 = 4 units share a GPU)"),
        memory_per_unit: float = typer.Option(0.0, "--memory-per-unit", metavar="GB",
                                              help="Ray: memory reserved per unit in GB (0: none)"),
        unit_retries: int = typer.Option(0, "--unit-retries", metavar="N",
                                         help="Ray: re-runs of a unit whose worker process died"),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", metavar="N",
                                           help="local: units run at once in N processes, one torch thread each "
                                                "(default: the available cores)"),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="check everything, print the plan, run nothing (exit 1: a unit cannot run)"),
        output: Optional[Path] = typer.Option(None, "--output", metavar="FILE",
                                              help="write this invocation's results as JSON"),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bars"),
        tracking_uri: Optional[str] = TrackingUri, data_root: Optional[Path] = DataRoot,
        cache_dir: Optional[Path] = CacheDir, weights_dir: Optional[Path] = WeightsDir,
        device: Optional[str] = Device,
    ) -> None:
        """Run every subject x seed unit the task(s) demand; finished units are skipped (resume).

        Everything the units need (data, layout, weights, image folders, tracking store) is checked
        first; each problem is printed once and nothing runs until all are fixed.
        """
        from bench.cli.common import check_submission_refs
        from bench.execution import available_cpus
        from bench.preflight import preflight
        from bench.runner import evaluate

        check_submission_refs(submissions, "evaluate")
        refs = [str(s) for s in submissions]
        jobs = available_cpus() if jobs is None else jobs
        if executor == "local" and jobs > 1 and not dry_run:
            from bench.execution.executors import start_worker_server

            start_worker_server()  # the workers' imports now, beside this process's checks
        settings = make_settings(tracking_uri, data_root, cache_dir, weights_dir, device)
        check = preflight(refs, tasks=task, subjects=subjects, seeds=seeds, settings=settings,
                          progress=not no_progress)
        if dry_run:
            _print_plan(check)
            _print_claims(check, settings)
        if not check.ok:
            typer.secho(check.describe(), fg=typer.colors.RED, err=True)
            typer.secho(f"nothing was run: fix the problem{'s' if len(check.problems) > 1 else ''} above, then run "
                        f"the same command again (`--dry-run` re-checks without running)", err=True)
            raise typer.Exit(code=1)
        if dry_run:
            return
        options = ({"address": ray_address, "num_cpus_per_unit": cpus_per_unit, "num_gpus_per_unit": gpus_per_unit,
                    "memory_per_unit_gb": memory_per_unit, "max_retries": unit_retries}
                   if executor == "ray" else {})
        report = evaluate(refs, tasks=task, subjects=subjects, seeds=seeds,
                          settings=settings, executor=executor, executor_options=options,
                          jobs=jobs, progress=not no_progress, dry_run=False, planned=check.planned)
        typer.echo(report.summary())
        for r in report.failed:
            typer.secho(f"FAILED {r.submission} {r.task} {r.split} seed {r.seed}: {r.error}", fg=typer.colors.RED,
                        err=True)
        task_names = sorted({p.unit.task.name for p in report.planned})
        if report.records or report.skipped:
            headline = {p.unit.task.name: p.unit.task.headline_metric for p in report.planned}
            for metric in sorted(set(headline.values())):   # each task's own headline metric (issue #12.4)
                print_results(settings, None, sorted(t for t in task_names if headline[t] == metric), metric, "table")
        if output is not None:
            _write_output(output, report, settings, task_names)
            typer.echo(f"wrote this invocation's results to {output}")
        _print_next_steps(settings, task_names, sorted({p.unit.submission.name for p in report.planned}), refs)
        if report.failed:
            raise typer.Exit(code=1)


def _print_plan(check) -> None:
    """One line per unit (key prefix, label, state), then the counts."""
    counts: dict[str, int] = {}
    for p in check.planned:
        state = check.state(p)
        counts[state.split(" (")[0]] = counts.get(state.split(" (")[0], 0) + 1
        typer.echo(f"{p.key[:12]}  {p.unit.label}  [{state}]")
    typer.echo(f"{len(check.planned)} units planned: {counts.get('finished', 0)} already finished, "
               f"{counts.get('to run', 0)} to run, {counts.get('cannot run', 0)} cannot run")


def _print_claims(check, settings) -> None:
    """Units of the plan that a worker holds a claim on (running elsewhere now, or an expired claim)."""
    from bench.errors import BenchError
    from bench.records.claims import describe
    from bench.records.mlflow_store import RecordStore

    try:
        claims = RecordStore(settings.tracking_uri, create=False).claims.all()
    except BenchError:
        return  # the store problem is one of the preflight's problems
    for p in check.planned:
        if p.key in claims and check.state(p) != "finished":
            typer.echo(f"{p.key[:12]}  {p.unit.label}  [{describe(claims[p.key])}]")


def _print_next_steps(settings, tasks: list[str], submissions: list[str], refs: list[str]) -> None:
    from bench.cli.common import redact_uri

    uri = redact_uri(settings.tracking_uri)
    task_opt = " ".join(f"--task {t}" for t in tasks)
    lines = [f"records: {uri} (experiment 'brainvis-bench')", "next:",
             f"  bench results {task_opt}".rstrip()]
    if len(refs) >= 2 and len(tasks) == 1:
        lines.append(f"  bench compare {' '.join(refs)} --task {tasks[0]}")
    elif len(tasks) == 1:
        lines.append(f"  bench compare {refs[0]} OTHER_SUBMISSION --task {tasks[0]}")
    lines.append(f"  bench leaderboard build --out leaderboard/site --tracking-uri {uri}")
    if uri.startswith("sqlite:///"):
        lines.append(f"  mlflow ui --backend-store-uri {uri}")
    typer.echo("\n".join(lines))


def _write_output(path: Path, report, settings, tasks: list[str]) -> None:
    """This invocation's units and the per-submission summaries of its tasks, as strict JSON (null, not NaN)."""
    import datetime
    import json

    from bench import HARNESS_VERSION
    from bench.cli.common import load_records, redact_uri, strict_json
    from bench.stats import summarise

    submissions = sorted({p.unit.submission.name for p in report.planned})
    ran = {r.key: r for r in report.records}
    skipped = {p.key for p in report.skipped}
    units = []
    for p in report.planned:
        record = ran.get(p.key)
        entry = {"task": p.unit.task.name, "submission": p.unit.submission.name, "split": p.unit.split,
                 "seed": p.unit.seed, "key": p.key}
        if record is not None:
            entry.update(status=record.status, metrics=record.metrics, chosen_epoch=record.chosen_epoch,
                         run_id=record.run_id, error=record.error.splitlines()[0] if record.error else None)
        else:
            entry["status"] = "skipped (already finished)" if p.key in skipped else "not run"
        units.append(entry)
    records = [r for t in tasks for r in load_records(settings, None, t) if r.submission in submissions]
    headline = {p.unit.task.name: p.unit.task.headline_metric for p in report.planned}
    results = [s.to_dict() for t in tasks for s in summarise([r for r in records if r.task == t], headline[t])]
    payload = {"harness_version": HARNESS_VERSION,
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "tracking_uri": redact_uri(settings.tracking_uri), "parent_run_id": report.parent_run_id,
               "tasks": tasks, "submissions": submissions,
               "counts": {"planned": len(report.planned), "skipped": len(report.skipped),
                          "finished": sum(r.finished for r in report.records), "failed": len(report.failed)},
               "units": units, "results": results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(strict_json(payload), indent=1, allow_nan=False) + "\n")
