"""``bench analyze factorial|ceiling`` and ``bench check``: the analyses of :mod:`bench.analysis`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import CacheDir, DataRoot, Snapshot, TrackingUri, load_records, make_settings


def _emit(obj: dict, fmt: str, text: str, out: Optional[Path]) -> None:
    from bench.stats.report import strict_json

    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(strict_json(obj) + "\n")
    typer.echo(strict_json(obj) if fmt == "json" else text)
    if out is not None and fmt != "json":
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Analyses across entries: factorial design, noise ceilings.", no_args_is_help=True)

    @group.command("factorial")
    def factorial_cmd(
        task: str = typer.Option(..., "--task", help="the task whose entries form the design"),
        factor: Optional[List[str]] = typer.Option(
            None, "--factor", help="factor (repeatable): encoder, image_model or a submission tag, e.g. alignment "
                                   "(default: encoder, image_model)"),
        metric: Optional[str] = typer.Option(None, "--metric", help="default: the task's headline metric"),
        alpha: float = typer.Option(0.05, "--alpha"),
        plot: Optional[Path] = typer.Option(None, "--plot", help="write the interaction plot (PNG) here"),
        fmt: str = typer.Option("text", "--format", help="text or json"),
        out: Optional[Path] = typer.Option(None, "--out", help="also write the result as JSON here"),
        snapshot: Optional[Path] = Snapshot, tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Encoder x image model (or any tagged factor) as a factorial design: RM-ANOVA, mixed model, effect sizes."""
        from bench.analysis.factorial import DEFAULT_FACTORS, factorial, interaction_plot

        settings = make_settings(tracking_uri)
        result = factorial(load_records(settings, snapshot, task), task, factor or DEFAULT_FACTORS, metric, alpha)
        text = result.text()
        if plot is not None:
            interaction_plot(result, plot)
            text += f"\n  interaction plot: {plot}"
        _emit(result.to_dict(), fmt, text, out)

    @group.command("ceiling")
    def ceiling_cmd(
        task: str = typer.Option(..., "--task", help="a retrieval task"),
        splits: int = typer.Option(20, "--splits", help="random split-halves per repetition count"),
        seed: int = typer.Option(0, "--seed"),
        fmt: str = typer.Option("text", "--format", help="text or json"),
        out: Optional[Path] = typer.Option(None, "--out", help="also write the result as JSON here (name it "
                                                               "*.ceiling.json; `bench leaderboard build --analyses` "
                                                               "shows it on the task page)"),
        snapshot: Optional[Path] = Snapshot, tracking_uri: Optional[str] = TrackingUri,
        data_root: Optional[Path] = DataRoot, cache_dir: Optional[Path] = CacheDir,
    ) -> None:
        """Noise ceiling from the test repetitions (split-half identification, Spearman-Brown corrected),
        per subject and averaged, and each entry's score as a fraction of it."""
        from bench.analysis.ceilings import fraction_of_ceiling, task_ceiling
        from bench.config import load_task

        settings = make_settings(tracking_uri, data_root, cache_dir)
        spec = load_task(task).spec
        ceiling = task_ceiling(spec, settings, n_splits=splits, seed=seed)
        fractions = fraction_of_ceiling(load_records(settings, snapshot, spec.name), ceiling)
        lines = [f"noise ceiling of {spec.name} (top-1; chance {ceiling.chance:.4f}): mean {ceiling.mean:.4f}",
                 f"  method: {ceiling.method}"]
        for s in ceiling.subjects:
            curve = ", ".join(f"m={m}: {v:.3f}" for m, v in s.curve.items())
            lines.append(f"  sub-{s.subject:02d}: ceiling {s.ceiling:.4f} (split-half {s.split_half:.4f}; {curve}; "
                         f"{s.n_images} images x {s.repetitions} repetitions"
                         + (f", {s.n_dropped} images with fewer left out" if s.n_dropped else "") + ")")
        for sub, f in sorted(fractions.items()):
            lines.append(f"  {sub}: {f['mean']:.3f} of the ceiling ("
                         + ", ".join(f"{k} {v:.3f}" for k, v in f["per_subject"].items()) + ")")
        from bench.config import spec_hash

        _emit({**ceiling.to_dict(), "task_hash": spec_hash(spec), "fraction_of_ceiling": fractions}, fmt,
              "\n".join(lines), out)

    app.add_typer(group, name="analyze")
    _register_verify(app)

    @app.command("check")
    def check_cmd(
        submission: Path = typer.Argument(..., help="the submission YAML (or name)"),
        task: str = typer.Option(..., "--task", help="the task the entry is on"),
        alpha: float = typer.Option(0.01, "--alpha", help="level of the chance tests"),
        max_distance: int = typer.Option(4, "--max-distance", help="perceptual-hash bits counted as the same image"),
        no_run: bool = typer.Option(False, "--no-run", help="only read existing records (no null/pre-stimulus runs)"),
        fmt: str = typer.Option("text", "--format", help="text or json"),
        out: Optional[Path] = typer.Option(None, "--out", help="also write the checklist as JSON here (name it "
                                                               "*.checks.json; `bench leaderboard build --analyses` "
                                                               "shows it)"),
        tracking_uri: Optional[str] = TrackingUri, data_root: Optional[Path] = DataRoot,
        cache_dir: Optional[Path] = CacheDir,
    ) -> None:
        """Validity checklist of one entry: shuffled-pairs null, pre-stimulus window, image overlap,
        block design (ImageNet-EEG), validation-only selection, complete seeds. Exit 1 when a check fails."""
        from bench.analysis.checks import badges, run_checks

        settings = make_settings(tracking_uri, data_root, cache_dir)
        result = run_checks(str(submission), task, settings, alpha=alpha, max_distance=max_distance, run=not no_run,
                            progress=fmt != "json")
        _emit({**result.to_dict(), "badges": badges(result)}, fmt, result.text(), out)
        if any(c.status == "fail" for c in result.checks):
            raise typer.Exit(1)


def _register_verify(app: typer.Typer) -> None:
    """``bench leaderboard verify``: added to the leaderboard group (registered before this module)."""
    group = next((g.typer_instance for g in app.registered_groups if g.name == "leaderboard"), None)
    if group is None:
        return

    @group.command("verify")
    def verify_cmd(
        snapshot: Path = typer.Argument(..., help="a results snapshot JSON (bench results --export)"),
        sample: int = typer.Option(1, "--sample", help="units to re-run (seeded draw)"),
        seed: int = typer.Option(0, "--seed"),
        tolerance: float = typer.Option(1e-6, "--tolerance", help="absolute tolerance on every metric"),
        fmt: str = typer.Option("text", "--format", help="text or json"),
        out: Optional[Path] = typer.Option(None, "--out", help="where to write the verification JSON (default: "
                                                               "<snapshot>.verification.json beside it, which "
                                                               "`bench leaderboard build` shows on the entries)"),
        tracking_uri: Optional[str] = TrackingUri, data_root: Optional[Path] = DataRoot,
        cache_dir: Optional[Path] = CacheDir,
    ) -> None:
        """Check every record's key against its embedded specs and re-run K units; write the verification
        beside the snapshot; exit 1 unless verified."""
        from bench.analysis.verify import verify_snapshot
        from bench.stats.report import strict_json

        settings = make_settings(tracking_uri, data_root, cache_dir)
        result, path = verify_snapshot(snapshot, settings, sample=sample, seed=seed, tolerance=tolerance, out=out)
        typer.echo(strict_json(result.to_dict()) if fmt == "json" else result.text() + f"\nwrote {path}")
        if not result.verified:
            raise typer.Exit(1)
