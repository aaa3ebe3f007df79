"""Throughput and memory of the THINGS-EEG2 simulator and loader, with in-run baselines.

    python ci/bench_data.py                 # size "small", 1 subject, 250 Hz layout
    python ci/bench_data.py --full          # also the published shapes (~10 GB per subject on disk)
    python ci/bench_data.py --variant 100hz --out /scratch/bench --keep --json results.json
    python ci/bench_data.py --full --eeg-only  # EEG streaming and loading only (no 16,740 JPEGs)

Every measurement runs in its own Python process, so peak RSS (``ru_maxrss``) belongs to that step
alone. Reported per size:

- simulate: wall time, EEG MB/s written (float64), trials/s, peak RSS (streaming: should stay far
  below one training file);
- load (average): the project loader's ``load(1, "train")`` (safe unpickling, chunked float64
  averaging into float32, in-pass checksum) against the baseline ``np.load(allow_pickle=True)``
  + float64 ``mean(axis=1)`` measured in the same run: time ratio and peak-RSS ratio;
- load (single): one row per repetition;
- peak RSS of each loader step divided by the float64 size of the file it read.

Image rendering is timed separately (``images``) and excluded from the EEG MB/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Steps (each run in a child process: python ci/bench_data.py --step NAME --root DIR ...)
# --------------------------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished children (image workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _eeg_file(root: Path, variant: str, part: str = "train") -> Path:
    from bench.data.things_eeg2 import FILE_NAMES, LAYOUTS

    return root / LAYOUTS[variant].folder / "sub-01" / FILE_NAMES[part]


def step_simulate(root: Path, size: str, variant: str, subjects: int, eeg_only: bool) -> dict:
    from bench.data.simulate.things_eeg2 import (DEFAULT_SNR, SIZES, ThingsEEG2Simulation, _write_eeg,
                                                 write_things_eeg2)
    from bench.data.things_eeg2 import FILE_NAMES, IMAGE_FOLDERS, LAYOUTS

    sim = ThingsEEG2Simulation(size, 0, variant)
    cpu0, start = _cpu_s(), time.perf_counter()
    if eeg_only:  # the EEG files exactly as the writer makes them; images replaced by empty placeholders
        for part in ("train", "test"):
            for folder, name in sim.image_files(part):
                d = root / IMAGE_FOLDERS[part] / folder
                d.mkdir(parents=True, exist_ok=True)
                (d / name).touch()
        for s in range(1, subjects + 1):
            for part in ("train", "test"):
                _write_eeg(sim, root / sim.layout.folder / f"sub-{s:02d}" / FILE_NAMES[part], s, part,
                           DEFAULT_SNR, None)
    else:
        write_things_eeg2(root, size=size, subjects=subjects, seed=0, variant=variant, overwrite=True)
    seconds = time.perf_counter() - start
    spec, layout = SIZES[size], LAYOUTS[variant]
    eeg_bytes = sum((root / layout.folder / f"sub-{s:02d}" / f).stat().st_size
                    for s in range(1, subjects + 1)
                    for f in ("preprocessed_eeg_training.npy", "preprocessed_eeg_test.npy"))
    trials = subjects * (spec.n_train * spec.train_reps + spec.test_concepts * spec.test_reps)
    n_images = spec.n_train + spec.test_concepts
    return {"seconds": seconds, "cpu_s": _cpu_s() - cpu0, "eeg_bytes": eeg_bytes, "trials": trials,
            "images": 0 if eeg_only else n_images, "peak_rss_mb": _peak_rss_mb(),
            "n_channels": len(sim.layout.ch_names)}


def step_images(size: str) -> dict:
    from bench.data.simulate import stimuli
    from bench.data.simulate.things_eeg2 import ThingsEEG2Simulation

    sim = ThingsEEG2Simulation(size, 0)
    feats = sim.features("train")[:200]
    tmp = Path(tempfile.mkdtemp())
    cpu0, start = _cpu_s(), time.perf_counter()
    for i, f in enumerate(feats):
        stimuli.write_jpeg(stimuli.render(f, sim.spec.image_size), tmp / f"{i}.jpg")
    seconds = time.perf_counter() - start
    shutil.rmtree(tmp)
    return {"images_per_s_one_process": len(feats) / seconds,
            "images_per_cpu_s": len(feats) / max(_cpu_s() - cpu0, 1e-9), "image_size": sim.spec.image_size,
            "peak_rss_mb": _peak_rss_mb()}


def step_load(root: Path, variant: str, repetitions: str) -> dict:
    from bench.data.things_eeg2 import ThingsEEG2

    ds = ThingsEEG2(root, variant=variant)
    ds.image_table("train")
    cpu0, start = _cpu_s(), time.perf_counter()
    data = ds.load(1, "train", repetitions=repetitions)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_s": _cpu_s() - cpu0, "rows": len(data), "out_bytes": int(data.signals.nbytes),
            "peak_rss_mb": _peak_rss_mb()}


def step_baseline(root: Path, variant: str) -> dict:
    import numpy as np

    path = _eeg_file(root, variant)
    cpu0, start = _cpu_s(), time.perf_counter()
    obj = np.load(path, allow_pickle=True)
    content = obj.item() if isinstance(obj, np.ndarray) else obj
    avg = content["preprocessed_eeg_data"].mean(axis=1)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_s": _cpu_s() - cpu0, "rows": len(avg), "peak_rss_mb": _peak_rss_mb()}


def step_python_baseline() -> dict:
    return {"peak_rss_mb": _peak_rss_mb()}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def _child(*args: str, timeout: float = 7200) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--step", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"step {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_size(size: str, variant: str, subjects: int, root: Path, eeg_only: bool) -> dict:
    import psutil

    result: dict = {"size": size, "variant": variant, "subjects": subjects, "eeg_only": eeg_only}
    result["python"] = _child("python")
    result["images"] = _child("images", "--size", size)
    result["simulate"] = _child("simulate", "--root", str(root), "--size", size, "--variant", variant,
                                "--subjects", str(subjects), *(["--eeg-only"] if eeg_only else []))
    file_bytes = _eeg_file(root, variant).stat().st_size
    result["file_mb"] = file_bytes / 1e6
    available = psutil.virtual_memory().available
    if available > 1.6 * file_bytes:  # the baseline holds the float64 file plus its float64 mean
        result["baseline"] = _child("baseline", "--root", str(root), "--variant", variant)
    else:
        result["baseline"] = None
        result["baseline_skipped"] = f"needs ~{1.5 * file_bytes / 1e9:.1f} GB, {available / 1e9:.1f} GB available"
    result["load_average"] = _child("load", "--root", str(root), "--variant", variant, "--repetitions", "average")
    result["load_single"] = _child("load", "--root", str(root), "--variant", variant, "--repetitions", "single")
    return result


def report(r: dict) -> str:
    mb = r["file_mb"]
    sim, base, avg, single = r["simulate"], r["baseline"], r["load_average"], r["load_single"]
    py = r["python"]["peak_rss_mb"]
    eeg_mb = sim["eeg_bytes"] / 1e6
    what = "EEG only, placeholder images" if r.get("eeg_only") else f"EEG + {sim['images']} images"
    lines = [
        f"== {r['size']} / {r['variant']} / {r['subjects']} subject(s); training file {mb:,.0f} MB "
        f"(float64); interpreter alone: {py:.0f} MB RSS",
        f"simulate   : {sim['seconds']:7.2f} s ({sim['cpu_s']:.1f} CPU s; {what})  "
        f"{eeg_mb / sim['seconds']:7.1f} MB/s EEG  {sim['trials'] / sim['seconds']:8.0f} trials/s  "
        f"peak RSS {sim['peak_rss_mb']:6.0f} MB ({sim['peak_rss_mb'] / mb:.3f} x training file)",
        f"images     : {r['images']['images_per_s_one_process']:7.1f} images/s per process "
        f"({r['images']['images_per_cpu_s']:.1f} per CPU s) at {r['images']['image_size']} px",
    ]
    if base is not None:
        lines.append(
            f"baseline   : {base['seconds']:7.2f} s ({base['cpu_s']:.1f} CPU s)  {mb / base['seconds']:7.1f} MB/s  "
            f"{base['rows'] / base['seconds']:8.0f} images/s  peak RSS {base['peak_rss_mb']:6.0f} MB "
            f"({base['peak_rss_mb'] / mb:.2f} x file)  [np.load(allow_pickle=True) + float64 mean]")
    else:
        lines.append(f"baseline   : skipped ({r['baseline_skipped']})")
    lines += [
        f"load avg   : {avg['seconds']:7.2f} s ({avg['cpu_s']:.1f} CPU s)  {mb / avg['seconds']:7.1f} MB/s  "
        f"{avg['rows'] / avg['seconds']:8.0f} images/s  peak RSS {avg['peak_rss_mb']:6.0f} MB "
        f"({avg['peak_rss_mb'] / mb:.2f} x file; float32 output {avg['out_bytes'] / 1e6:.0f} MB)",
        f"load single: {single['seconds']:7.2f} s ({single['cpu_s']:.1f} CPU s)  {mb / single['seconds']:7.1f} MB/s  "
        f"{single['rows'] / single['seconds']:8.0f} trials/s  peak RSS {single['peak_rss_mb']:6.0f} MB "
        f"({single['peak_rss_mb'] / mb:.2f} x file; float32 output {single['out_bytes'] / 1e6:.0f} MB)",
    ]
    if base is not None:
        lines.append(f"ratios     : loader/baseline time {avg['seconds'] / base['seconds']:.2f}x "
                     f"(CPU {avg['cpu_s'] / max(base['cpu_s'], 1e-9):.2f}x), peak RSS "
                     f"{avg['peak_rss_mb'] / base['peak_rss_mb']:.2f}x (the loader also checks safety and "
                     f"hashes the file in the same pass)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also benchmark the published (full) shapes")
    parser.add_argument("--variant", default="250hz", choices=["250hz", "100hz"])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated data")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    parser.add_argument("--eeg-only", action="store_true",
                        help="skip image rendering (empty placeholder .jpg files); images/s is still measured")
    # child-process steps
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--size", default="small", help=argparse.SUPPRESS)
    parser.add_argument("--repetitions", default="average", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.step:
        steps = {
            "python": lambda: step_python_baseline(),
            "images": lambda: step_images(args.size),
            "simulate": lambda: step_simulate(args.root, args.size, args.variant, args.subjects, args.eeg_only),
            "load": lambda: step_load(args.root, args.variant, args.repetitions),
            "baseline": lambda: step_baseline(args.root, args.variant),
        }
        print(json.dumps(steps[args.step]()))
        return 0

    scratch = args.out or Path(tempfile.mkdtemp(prefix="bench-data-"))
    results = []
    try:
        for size in ["small"] + (["full"] if args.full else []):
            root = scratch / f"things-eeg2-{size}-{args.variant}"
            r = bench_size(size, args.variant, args.subjects, root, args.eeg_only)
            results.append(r)
            print(report(r), flush=True)
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
