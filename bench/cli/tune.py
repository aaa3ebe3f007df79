"""``bench tune``: an Optuna search over a submission's hyperparameters on validation data only."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bench.cli.common import CacheDir, DataRoot, Device, TrackingUri, WeightsDir, make_settings


def register(app: typer.Typer) -> None:
    """Add ``bench tune`` to the main app."""

    @app.command("tune")
    def tune_cmd(
        submission: Path = typer.Argument(..., help="submission YAML (or name) whose hyperparameters are searched"),
        task: str = typer.Option(..., "--task", help="the task (name or YAML) tuned on; its validation split only"),
        space: Path = typer.Option(..., "--space", help="search-space YAML, e.g. submissions/spaces/atm.yaml"),
        trials: int = typer.Option(20, "--trials", help="trials to add to the study (split over --n-jobs)"),
        storage: Optional[str] = typer.Option(
            None, "--storage", help="Optuna storage: an SQLAlchemy URL (sqlite:///optuna.db, postgresql://...) "
                                    "or journal:PATH (default: sqlite:///./optuna.db)"),
        study_name: Optional[str] = typer.Option(None, "--study-name",
                                                 help="default <submission>__<task>; the same name resumes"),
        n_jobs: int = typer.Option(1, "--n-jobs", help="worker processes running trials concurrently (more "
                                                       "`bench tune` commands, on any machine, may join the study)"),
        pruner: Optional[str] = typer.Option(None, "--pruner",
                                             help="median, percentile or none (default: the space's, else median)"),
        seed: int = typer.Option(0, "--seed", help="sampler seed"),
        subject: Optional[int] = typer.Option(None, "--subject", help="subject tuned on (default: the task's first)"),
        tune_seed: Optional[int] = typer.Option(None, "--tune-seed",
                                                help="the unit seed every trial trains with (default: the task's first)"),
        out: Optional[Path] = typer.Option(None, "--out",
                                           help="best-trial submission YAML (default submissions/tuned/<name>_tuned.yaml)"),
        num_threads: Optional[int] = typer.Option(None, "--threads", help="torch threads per worker (default: cores / n-jobs)"),
        tracking_uri: Optional[str] = TrackingUri, data_root: Optional[Path] = DataRoot,
        cache_dir: Optional[Path] = CacheDir, weights_dir: Optional[Path] = WeightsDir,
        device: Optional[str] = Device,
    ) -> None:
        """Search hyperparameters with Optuna on validation data (never the test split).

        Each trial trains one unit (one subject, one seed), reporting its validation
        metric every epoch so the space's pruner can stop it. Run the command again,
        or several at once, to add trials; the best trial becomes a submission.
        """
        from bench.cli.common import check_submission_refs
        from bench.config import load_task
        from bench.preflight import preflight
        from bench.tuning.study import tune

        check_submission_refs([submission], "tune")
        settings = make_settings(tracking_uri, data_root, cache_dir, weights_dir, device)
        if num_threads:
            settings = settings.with_(num_threads=num_threads)
        # the same checks as `bench evaluate`, for the one unit the trials train (the seed changes no file)
        spec = load_task(task).spec
        check = preflight([str(submission)], tasks=[task], settings=settings, seeds=[spec.seeds[0]],
                          subjects=[spec.dataset.subjects[0] if subject is None else subject])
        if not check.ok:
            typer.secho(check.describe(), fg=typer.colors.RED, err=True)
            typer.secho("no trial was run: fix the problem(s) above, then run the same command again", err=True)
            raise typer.Exit(code=1)
        result = tune(str(submission), task, space, trials=trials, settings=settings, storage=storage,
                      study_name=study_name, n_jobs=n_jobs, pruner=pruner, seed=seed, subject=subject,
                      tune_seed=tune_seed, out=out)
        from bench.records.uris import scrub

        def clean(text: str) -> str:  # no password of either store, whatever a driver put in a message
            return scrub(scrub(text, storage or ""), settings.tracking_uri)

        typer.echo(clean(result.summary()))
        for err in result.worker_errors:
            typer.secho(f"worker failed: {clean(err)}", fg=typer.colors.RED, err=True)
        if result.trial_errors:
            typer.secho(f"{len(result.trial_errors)} trial(s) of this invocation failed; the first: "
                        f"{clean(result.trial_errors[0])}", fg=typer.colors.YELLOW, err=True)
        if result.worker_errors:
            raise typer.Exit(code=1)
