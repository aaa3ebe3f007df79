"""What is in a dataset folder: variant, subjects, stored files (shapes, dtypes, checksums), problems.

The report ``bench data info`` prints, usable from Python::

    from bench.data.describe import describe, format_report
    report = describe("data/things-eeg2", dataset="things-eeg2", quick=True)
    print(format_report(report))

It uses only the declared dataset interface (:class:`bench.data.base.BrainDataset`: ``subjects``,
``images``, ``read_file``, ``validate``, ``detect_variant``), so it works for every dataset plug-in.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError


def describe(root: Path, dataset: str = "things-eeg2", variant: str | None = None, quick: bool = False,
             cache_dir: Path | None = None) -> dict:
    """The report as a dict: root, dataset, variant, simulated info, subjects, images, files, problems.

    ``quick`` skips the NaN/Inf scan and the file checksums; ``cache_dir`` holds checksum sidecars
    (default: the settings' cache, so a file is hashed once).
    """
    from bench.data import DATASETS
    from bench.data.checksum import file_sha256
    from bench.data.simulate import read_simulation_info

    root = Path(root)
    cls = DATASETS.get(dataset)
    if variant is None:
        variant = cls.detect_variant(root)
    if cache_dir is None:
        from bench.settings import load_settings

        cache_dir = load_settings().cache_dir
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
                stored = ds.read_file(s, part)
                entry.update(path=str(stored.path), shape=list(stored.shape), dtype=str(stored.data.dtype),
                             n_channels=len(stored.ch_names), stored_times=stored.stored_times,
                             t0=float(stored.times[0]), t1=float(stored.times[-1]),
                             megabytes=round(stored.path.stat().st_size / 1e6, 1))
                if not quick:
                    entry["sha256"] = file_sha256(stored.path, cache_dir)
            except BenchError:
                pass  # reported by validate()
            report["files"].append(entry)
    report["problems"].extend(ds.validate(scan=not quick))
    return report


def format_report(report: dict) -> str:
    """The report as the text ``bench data info`` prints."""
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


__all__ = ["describe", "format_report"]
