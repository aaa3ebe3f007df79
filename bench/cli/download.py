"""`bench data download` and `bench weights download`: fetch published data and weights, verified.

    bench data download DATASET [--variant V] [--subjects 1 2 ...] --data-root DIR [--mirror URL]
                                [--accept-terms NAME] [--verify] [--quiet] [--no-info]
    bench data download --list
    bench weights download IMAGE_MODEL [--param KEY=VALUE ...] [--weights-dir DIR] [--mirror URL] [--force]
    bench weights download metrics [--param extractors=alexnet,inception]

The sources (and where each address came from) are in ``bench/download/sources.py``. A data download
ends with the ``bench data info`` report of the result; its exit code is 1 when that report finds
problems or a manual step (licence, password) is still to be done.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import DataRoot, WeightsDir

Mirror = typer.Option(None, "--mirror", help="download mirror base URL (<mirror>/<host>/<path>); or BENCH_MIRROR")


def data_download(
    dataset: Optional[str] = typer.Argument(None, help="things-eeg2 | things-meg | imagenet-eeg | nsd"),
    variant: Optional[str] = typer.Option(None, "--variant", help="e.g. 250hz | 100hz | images (things-eeg2)"),
    subjects: Optional[List[int]] = typer.Option(None, "--subjects", help="subjects to fetch (default: all)"),
    data_root: Optional[Path] = DataRoot,
    mirror: Optional[str] = Mirror,
    accept_terms: Optional[List[str]] = typer.Option(None, "--accept-terms",
                                                     help="dataset whose terms you accepted (e.g. nsd)"),
    verify: bool = typer.Option(False, "--verify", help="re-hash every file already in place"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
    no_info: bool = typer.Option(False, "--no-info", help="skip the final `bench data info` report"),
    list_: bool = typer.Option(False, "--list", help="list the datasets and variants that can be downloaded"),
) -> None:
    """Download DATASET into DATA_ROOT/<dataset>/ in the loader's layout (resumable, verified)."""
    from bench.download.data import describe_dataset, download_dataset, list_sources
    from bench.errors import ConfigError
    from bench.settings import load_settings

    if list_:
        typer.echo("\n".join(list_sources()))
        return
    if dataset is None:
        raise ConfigError("no dataset given", field="DATASET", fix="e.g. bench data download things-eeg2 "
                                                                   "--data-root DIR (see --list)")
    settings = load_settings(data_root=data_root, mirror=mirror)
    if settings.data_root is None:
        raise ConfigError("no data root", field="--data-root",
                          fix="pass --data-root DIR (or set BENCH_DATA_ROOT / data_root: in bench.yaml)")
    report = download_dataset(dataset, settings.data_root, variant=variant, subjects=subjects,
                              mirror=settings.mirror, accept_terms=accept_terms or (), verify=verify,
                              progress=not quiet, echo=typer.echo)
    typer.echo("\n".join(report.lines()))
    failed = bool(report.manual_pending)
    has_data = any(not p.name.startswith(".bench-download") for p in report.root.iterdir()) if report.root.is_dir() else False
    if not report.source.describe:
        typer.echo(f"(no `bench data info` for {report.source.dataset} --variant {report.source.variant}: the loader "
                   "needs the EEG files too)")
    elif not no_info and has_data:
        from bench.data.describe import format_report

        info = describe_dataset(report.root, report.source)
        typer.echo("\n$ bench data info " + str(report.root))
        typer.echo(format_report(info))
        failed = failed or bool(info["problems"])
    if failed:
        raise typer.Exit(1)


def weights_download(
    image_model: str = typer.Argument(..., help="dreamsim | open_clip | timm | metrics (the metric extractors)"),
    param: Optional[List[str]] = typer.Option(None, "--param", help="model parameter KEY=VALUE (repeatable), "
                                                                    "e.g. --param model=ViT-B-32"),
    weights_dir: Optional[Path] = WeightsDir,
    mirror: Optional[str] = Mirror,
    force: bool = typer.Option(False, "--force", help="fetch again even when the files are there"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
) -> None:
    """Fetch IMAGE_MODEL's weights into the weights folder (no-op when present; checksum recorded)."""
    from bench.cli.embed import parse_params
    from bench.download.weights import download_weights
    from bench.settings import load_settings

    settings = load_settings(weights_dir=weights_dir, mirror=mirror)
    report = download_weights(image_model, parse_params(param), settings, mirror=settings.mirror, force=force,
                              progress=not quiet, echo=typer.echo)
    typer.echo("\n".join(report.lines()))


weights_app = typer.Typer(help="Fetch image-model and metric weights into the weights folder.", no_args_is_help=True)
weights_app.command("download")(weights_download)


def register(app: typer.Typer) -> None:
    """Add ``data download`` to the ``data`` group and the ``weights`` group to the main app."""
    from bench.cli.data import data_app

    data_app.command("download")(data_download)
    app.add_typer(weights_app, name="weights")
