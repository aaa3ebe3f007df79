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
        task: Optional[str] = typer.Option(None, "--task", metavar="TASK",
                                           help="the task to compare on (default: the one task all submissions name)"),
        metric: str = typer.Option("top1", "--metric"),
        correction: str = typer.Option("holm", "--correction", help="holm, bh or none (across all pairs)"),
        fmt: str = typer.Option("table", "--format", help="table, json or csv"),
        n_boot: int = typer.Option(10000, "--bootstrap", help="bootstrap resamples for the CI"),
        per_item: bool = typer.Option(False, "--per-item",
                                      help="pair per test item (e.g. per reconstructed image) instead of per unit"),
        snapshot: Optional[Path] = Snapshot, tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Paired tests between submissions: over matched subjects (seed-averaged), or matched seeds on pooled
        tasks; with the design, the deciding test, its power and any conflicting records. Exits non-zero when a
        pair has nothing matched."""
        import pandas as pd

        from bench.config import load_submission
        from bench.errors import ConfigError, RecordError
        from bench.stats import compare_all

        if correction not in ("holm", "bh", "none"):
            raise ConfigError(f"unknown correction '{correction}'", field="--correction", fix="use holm, bh or none")
        from bench.cli.common import check_submission_refs, infer_task

        check_submission_refs(submissions, "compare")
        loaded = [load_submission(str(s)) for s in submissions]
        names = [s.name for s in loaded]
        task = task or infer_task(loaded)
        if len(names) < 2:
            raise ConfigError("compare needs at least two submissions", fix="name two or more submission files")
        settings = make_settings(tracking_uri)
        records = load_records(settings, snapshot, task)
        from bench.stats.report import comparison_text, nothing_matched, strict_json

        if per_item:
            import itertools

            from bench.stats.items import compare_items

            rows = [_as_dict(compare_items(records, task, a, b, metric))
                    for a, b in itertools.combinations(names, 2)]
            empty = next((r for r in rows if not r["n_items"]), None)
            if empty is not None:
                raise RecordError(f"nothing to compare: {empty['a']} and {empty['b']} have no matched per-item "
                                  f"values of '{metric}' on task '{task}'",
                                  fix=f"run both with `bench evaluate <YAML> --task {task}`, or pick a per-item "
                                      f"metric the records hold (--metric)")
            typer.echo(strict_json(rows) if fmt == "json" else pd.DataFrame(rows).to_string())
            return
        results = compare_all(records, task, names, metric, correction=correction, n_boot=n_boot)
        error = nothing_matched(results, records, task)
        if error is not None:
            raise error
        rows = [c.to_dict() for c in results]
        if fmt == "json":
            typer.echo(strict_json(rows))
            return
        frame = pd.DataFrame(rows)
        if fmt == "csv":
            typer.echo(frame.to_csv(index=False))
            return
        typer.echo("\n\n".join(comparison_text(c) for c in results))


def _as_dict(result) -> dict:
    import dataclasses

    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)


def print_results(settings, snapshot, tasks, metric: str, fmt: str) -> None:
    """The ``bench results`` output: one row per entry; failed, never-run and conflicting units told apart,
    entries that only failed listed as failed attempts, each with what to do."""
    import pandas as pd

    from bench.stats import summarise
    from bench.stats.entries import conflict_message, failed_attempts
    from bench.stats.report import strict_json

    records = [r for t in (tasks or [None]) for r in load_records(settings, snapshot, t)]
    summaries = summarise(records, metric)
    attempts = failed_attempts(records)
    if fmt == "json":
        rows = [{**s.to_dict(), "status": _status(s)} for s in summaries]
        rows += [{"metric": metric, "mean": None, "se": None, "n_subjects": 0, "n_seeds": 0, "n_units": 0,
                  "complete": False, **a.to_dict()} for a in attempts]
        typer.echo(strict_json(rows))
        return
    rows = [{"task": s.task, "submission": s.submission, metric: s.mean, "se": s.se, "se over": s.pair_by,
             "subjects": s.n_subjects, "seeds": s.n_seeds, "units": s.n_units, "status": _status(s)}
            for s in summaries]
    rows += [{"task": a.task, "submission": a.submission, metric: float("nan"), "se": float("nan"), "se over": "",
              "subjects": 0, "seeds": 0, "units": 0, "status": f"failed attempt ({a.n_failed} failed)"}
             for a in attempts]
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        typer.echo(frame.to_csv(index=False))
        return
    if frame.empty:
        typer.echo("no records")
        return
    typer.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for s in summaries:
        per = "  ".join(f"{k}: {m:.3f}±{(0 if n < 2 else sd):.3f} (n={n})" for k, (m, sd, n) in s.per_subject.items())
        typer.echo(f"  {s.submission} per subject (mean±std over seeds): {per}")
    for s in summaries:
        if s.failed:
            shown = "; ".join(f"{sp}/seed{sd}: {err}" for sp, sd, err in s.failed[:5])
            more = f" (and {len(s.failed) - 5} more)" if len(s.failed) > 5 else ""
            typer.echo(f"FAILED {s.task} / {s.submission}: {len(s.failed)} unit(s) failed: {shown}{more}; "
                       f"re-run `bench evaluate` to retry them")
        if s.missing:
            typer.echo(f"NOT RUN {s.task} / {s.submission}: {len(s.missing)} unit(s) never run: "
                       + ", ".join(f"{sp}/seed{sd}" for sp, sd in s.missing[:8])
                       + (" ..." if len(s.missing) > 8 else ""))
        if s.conflicts:
            typer.echo(f"CONFLICT {s.task} / {s.submission}: {conflict_message(s.conflicts)}")
    for a in attempts:
        errors = "; ".join(f"{n} × {e}" for e, n in a.errors[:3])
        typer.echo(f"FAILED ATTEMPT {a.task} / {a.submission}: no unit finished ({a.n_failed} failed): {errors}")


def _status(s) -> str:
    """'complete', or what keeps the entry from it: conflicting, failed and never-run units."""
    if s.complete:
        return "complete"
    parts = [f"{len(s.conflicts)} conflicting" if s.conflicts else "", f"{len(s.failed)} failed" if s.failed else "",
             f"{len(s.missing)} never run" if s.missing else ""]
    return "incomplete (" + ", ".join(p for p in parts if p) + ")"
