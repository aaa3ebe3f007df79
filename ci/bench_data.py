"""Throughput and memory of the THINGS-EEG2 simulator and loader, with in-run baselines.

    python ci/bench_data.py                 # size "small", 1 subject, 250 Hz layout
    python ci/bench_data.py --full          # also the published shapes (~10 GB per subject on disk)
    python ci/bench_data.py --variant 100hz --out /scratch/bench --keep --json results.json

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


def _eeg_file(root: Path, variant: str, part: str = "train") -> Path:
    from bench.data.things_eeg2 import FILE_NAMES, LAYOUTS

    return root / LAYOUTS[variant].folder / "sub-01" / FILE_NAMES[part]


def step_simulate(root: Path, size: str, variant: str, subjects: int) -> dict:
    from bench.data.simulate.things_eeg2 import SIZES, ThingsEEG2Simulation, write_things_eeg2
    from bench.data.things_eeg2 import LAYOUTS

    sim = ThingsEEG2Simulation(size, 0, variant)
    start = time.perf_counter()
    write_things_eeg2(root, size=size, subjects=subjects, seed=0, variant=variant, overwrite=True)
    seconds = time.perf_counter() - start
    spec, layout = SIZES[size], LAYOUTS[variant]
    eeg_bytes = sum((root / layout.folder / f"sub-{s:02d}" / f).stat().st_size
                    for s in range(1, subjects + 1)
                    for f in ("preprocessed_eeg_training.npy", "preprocessed_eeg_test.npy"))
    trials = subjects * (spec.n_train * spec.train_reps + spec.test_concepts * spec.test_reps)
    n_images = spec.n_train + spec.test_concepts
    return {"seconds": seconds, "eeg_bytes": eeg_bytes, "trials": trials, "images": n_images,
            "peak_rss_mb": _peak_rss_mb(), "n_channels": len(sim.layout.ch_names)}


def step_images(size: str) -> dict:
    import numpy as np

    from bench.data.simulate import stimuli
    from bench.data.simulate.things_eeg2 import ThingsEEG2Simulation

    sim = ThingsEEG2Simulation(size, 0)
    feats = sim.features("train")[:200]
    tmp = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    for i, f in enumerate(feats):
        stimuli.write_jpeg(stimuli.render(f, sim.spec.image_size), tmp / f"{i}.jpg")
    seconds = time.perf_counter() - start
    shutil.rmtree(tmp)
    return {"images_per_s_one_process": len(feats) / seconds, "image_size": sim.spec.image_size,
            "peak_rss_mb": _peak_rss_mb(), "checksum_of_features": float(np.sum(feats))}


def step_load(root: Path, variant: str, repetitions: str) -> dict:
    from bench.data.things_eeg2 import ThingsEEG2

    ds = ThingsEEG2(root, variant=variant)
    ds.image_table("train")
    start = time.perf_counter()
    data = ds.load(1, "train", repetitions=repetitions)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(data), "out_bytes": int(data.signals.nbytes),
            "peak_rss_mb": _peak_rss_mb()}


def step_baseline(root: Path, variant: str) -> dict:
    import numpy as np

    path = _eeg_file(root, variant)
    start = time.perf_counter()
    obj = np.load(path, allow_pickle=True)
    content = obj.item() if isinstance(obj, np.ndarray) else obj
    avg = content["preprocessed_eeg_data"].mean(axis=1)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(avg), "peak_rss_mb": _peak_rss_mb()}


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


def bench_size(size: str, variant: str, subjects: int, root: Path) -> dict:
    result: dict = {"size": size, "variant": variant, "subjects": subjects}
    result["python"] = _child("python")
    result["images"] = _child("images", "--size", size)
    result["simulate"] = _child("simulate", "--root", str(root), "--size", size, "--variant", variant,
                                "--subjects", str(subjects))
    file_bytes = _eeg_file(root, variant).stat().st_size
    result["file_mb"] = file_bytes / 1e6
    result["baseline"] = _child("baseline", "--root", str(root), "--variant", variant)
    result["load_average"] = _child("load", "--root", str(root), "--variant", variant, "--repetitions", "average")
    result["load_single"] = _child("load", "--root", str(root), "--variant", variant, "--repetitions", "single")
    return result


def report(r: dict) -> str:
    mb = r["file_mb"]
    sim, base, avg, single = r["simulate"], r["baseline"], r["load_average"], r["load_single"]
    py = r["python"]["peak_rss_mb"]
    eeg_mb = sim["eeg_bytes"] / 1e6
    lines = [
        f"== {r['size']} / {r['variant']} / {r['subjects']} subject(s); training file {mb:,.0f} MB "
        f"(float64), interpreter baseline RSS {py:.0f} MB",
        f"simulate  : {sim['seconds']:7.2f} s  {eeg_mb / sim['seconds']:8.1f} MB/s EEG  "
        f"{sim['trials'] / sim['seconds']:9.0f} trials/s  peak RSS {sim['peak_rss_mb']:7.0f} MB "
        f"({sim['peak_rss_mb'] / mb:.2f} x training file)",
        f"images    : {r['images']['images_per_s_one_process']:7.1f} images/s per process at "
        f"{r['images']['image_size']} px",
        f"baseline  : {base['seconds']:7.2f} s  {mb / base['seconds']:8.1f} MB/s  "
        f"{base['rows'] / base['seconds']:9.0f} images/s  peak RSS {base['peak_rss_mb']:7.0f} MB "
        f"({base['peak_rss_mb'] / mb:.2f} x file)   [np.load(allow_pickle=True) + float64 mean]",
        f"load avg  : {avg['seconds']:7.2f} s  {mb / avg['seconds']:8.1f} MB/s  "
        f"{avg['rows'] / avg['seconds']:9.0f} images/s  peak RSS {avg['peak_rss_mb']:7.0f} MB "
        f"({avg['peak_rss_mb'] / mb:.2f} x file)",
        f"load single: {single['seconds']:6.2f} s  {mb / single['seconds']:8.1f} MB/s  "
        f"{single['rows'] / single['seconds']:9.0f} trials/s  peak RSS {single['peak_rss_mb']:7.0f} MB "
        f"({single['peak_rss_mb'] / mb:.2f} x file; output alone {single['out_bytes'] / 1e6:.0f} MB)",
        f"ratios    : loader/baseline time {avg['seconds'] / base['seconds']:.2f}x, "
        f"peak RSS {avg['peak_rss_mb'] / base['peak_rss_mb']:.2f}x "
        f"(the loader also verifies safety and hashes the file in the same pass)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also benchmark the published (full) shapes")
    parser.add_argument("--variant", default="250hz", choices=["250hz", "100hz"])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the simulated data")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
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
            "simulate": lambda: step_simulate(args.root, args.size, args.variant, args.subjects),
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
            r = bench_size(size, args.variant, args.subjects, root)
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
