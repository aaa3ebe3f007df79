"""`bench data ...`: simulate datasets in their published layout and inspect dataset folders.

    bench data simulate things-eeg2 --out DIR [--subjects N] [--size tiny|small|full] [--seed S]
                                            [--snr X] [--variant 250hz|100hz] [--force]
    bench data info DIR [--variant 250hz|100hz] [--quick] [--json]

Without ``--out``, ``simulate`` writes into the settings' cache (``ensure_simulated``) and prints the
folder. ``info`` reports the variant, subjects, shapes, dtypes, checksums and every problem the
loader's validation finds (built by :mod:`bench.data.describe`); its exit code is 1 when problems
were found.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

data_app = typer.Typer(help="Simulate datasets in their published layout; inspect dataset folders.",
                       no_args_is_help=True)


@data_app.command("simulate")
def simulate(
    dataset: str = typer.Argument(..., help="dataset to simulate, e.g. things-eeg2"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: the simulated-data cache)"),
    subjects: int = typer.Option(2, "--subjects", min=1, help="number of subjects (1..N)"),
    size: str = typer.Option("tiny", "--size", help="tiny (seconds) | small (benchmark) | full (published shapes)"),
    seed: int = typer.Option(0, "--seed", min=0, help="random seed: same seed, same files"),
    snr: Optional[float] = typer.Option(None, "--snr", help="single-trial evoked/noise power ratio "
                                                            "(default: the simulator's)"),
    variant: Optional[str] = typer.Option(None, "--variant", help="file layout, e.g. 250hz or 100hz"),
    force: bool = typer.Option(False, "--force", help="write into a non-empty --out folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
) -> None:
    """Write a simulated DATASET in its exact published on-disk layout."""
    import time

    from bench.data.simulate import SIMULATORS

    writer = SIMULATORS.get(dataset)
    started = time.time()
    if out is None:
        from bench.data.ensure import ensure_simulated
        from bench.settings import load_settings

        path = ensure_simulated(dataset, load_settings(), size=size, subjects=subjects, seed=seed, snr=snr,
                                variant=variant, progress=not quiet)
    else:
        kwargs = {} if snr is None else {"snr": snr}
        if variant is not None:
            kwargs["variant"] = variant
        path = writer(out, size=size, subjects=subjects, seed=seed, progress=not quiet, overwrite=force, **kwargs)
    typer.echo(f"{dataset}: {path} ({time.time() - started:.1f} s)")


@data_app.command("info")
def info(
    root: Path = typer.Argument(..., help="dataset root folder"),
    dataset: str = typer.Option("things-eeg2", "--dataset", help="dataset kind"),
    variant: Optional[str] = typer.Option(None, "--variant", help="layout variant (default: detected)"),
    quick: bool = typer.Option(False, "--quick", help="skip the NaN/Inf scan and the file checksums"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON report"),
) -> None:
    """What is in a dataset folder: variant, subjects, shapes, dtypes, checksums, problems."""
    from bench.data.describe import describe, format_report

    report = describe(root, dataset=dataset, variant=variant, quick=quick)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        typer.echo(format_report(report))
    if report["problems"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main app."""
    app.add_typer(data_app, name="data")
