"""`bench data ...`: simulate datasets in their published layout and inspect dataset folders.

    bench data simulate things-eeg2 --out DIR [--subjects N] [--size tiny|small|full] [--seed S]
                                            [--snr X] [--variant 250hz|100hz] [--force]
    bench data info DIR [--variant 250hz|100hz] [--quick] [--json]

Without ``--out``, ``simulate`` writes into the settings' cache (``ensure_simulated``) and prints the
folder. ``info`` reports the variant, subjects, shapes, dtypes, checksums and every problem the
loader's validation finds; its exit code is 1 when problems were found.
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
    report = describe(root, dataset=dataset, variant=variant, quick=quick)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        typer.echo(_format(report))
    if report["problems"]:
        raise typer.Exit(1)


def describe(root: Path, dataset: str = "things-eeg2", variant: str | None = None, quick: bool = False) -> dict:
    """The report ``bench data info`` prints, as a dict (usable from Python)."""
    from bench.data import DATASETS
    from bench.data.checksum import file_sha256
    from bench.data.simulate import read_simulation_info
    from bench.errors import BenchError

    from bench.settings import load_settings

    root = Path(root)
    cls = DATASETS.get(dataset)
    if variant is None and dataset == "things-eeg2":
        from bench.data.things_eeg2 import detect_variant

        variant = detect_variant(root)
    cache_dir = load_settings().cache_dir  # checksum sidecars: a file is hashed once
    ds = cls(root, variant=variant, cache_dir=cache_dir)
    report: dict = {"root": str(root), "dataset": dataset, "variant": ds.variant,
                    "simulated": read_simulation_info(root), "subjects": [], "files": [], "images": {},
                    "problems": []}
    try:
        report["subjects"] = ds.subjects()
    except BenchError as exc:
        report["problems"].append(str(exc))
        return report
    for part in ("train", "test"):
        try:
            images = ds.images(part)
            report["images"][part] = {"count": len(images), "first": images.ids[0] if images.ids else None}
        except BenchError:
            pass  # reported by validate()
    for s in report["subjects"]:
        for part in ("train", "test"):
            entry: dict = {"subject": s, "part": part}
            try:
                eeg = ds.read_file(s, part)
                entry.update(path=str(eeg.path), shape=list(eeg.shape), dtype=str(eeg.data.dtype),
                             n_channels=len(eeg.ch_names), stored_times=eeg.stored_times,
                             t0=float(eeg.times[0]), t1=float(eeg.times[-1]),
                             megabytes=round(eeg.path.stat().st_size / 1e6, 1))
                if not quick:
                    entry["sha256"] = file_sha256(eeg.path, cache_dir)
            except BenchError:
                pass  # reported by validate()
            report["files"].append(entry)
    report["problems"].extend(ds.validate(scan=not quick) if hasattr(ds, "validate") else [])
    return report


def _format(report: dict) -> str:
    lines = [f"dataset:  {report['dataset']} ({report['variant']})", f"root:     {report['root']}"]
    sim = report.get("simulated")
    if sim:
        lines.append(f"simulated: size={sim.get('size')} subjects={sim.get('subjects')} seed={sim.get('seed')} "
                     f"snr={sim.get('snr')} (simulator {sim.get('simulator_version')})")
    lines.append(f"subjects: {report['subjects']}")
    for part, img in report["images"].items():
        lines.append(f"images:   {part}: {img['count']} (first: {img['first']})")
    for f in report["files"]:
        if "shape" in f:
            line = (f"  sub-{f['subject']:02d} {f['part']:<5} {tuple(f['shape'])} {f['dtype']}  "
                    f"{f['t0']:.3f}..{f['t1']:.3f} s  {f['megabytes']} MB")
            if "sha256" in f:
                line += f"  sha256 {f['sha256'][:16]}"
            lines.append(line)
    if report["problems"]:
        lines.append(f"problems ({len(report['problems'])}):")
        lines.extend("  - " + p.replace("\n", "\n    ") for p in report["problems"])
    else:
        lines.append("problems: none")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main app."""
    app.add_typer(data_app, name="data")
