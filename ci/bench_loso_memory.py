#!/usr/bin/env python
"""Peak memory (RSS) of one leave-one-subject-out fold on simulated THINGS-EEG2.

    python ci/bench_loso_memory.py                 # "small": 10 subjects of (3308, 4, 63, 250) + (200, 20, 63, 250)
    python ci/bench_loso_memory.py --full          # the published shapes: (16540, 4, 63, 250) + (200, 80, 63, 250)
    python ci/bench_loso_memory.py --full --workdir /big/disk --keep --json loso.json

What it does:

1. Simulates ONE subject of THINGS-EEG2 (250 Hz layout, float64 pickles exactly as published) at the
   chosen size, with 64-pixel stimulus images (image size does not change the fold's memory, and
   rendering 16,540 full-size images would take longer than the fold), then hard-links its two EEG
   files into ``sub-02`` ... ``sub-10``. Every subject is still a separate file that the loader opens,
   hashes and reads on its own, and the pooled cache writes one file per subject, so the fold's
   memory behaviour is that of ten distinct subjects (only the disk and the page cache are spared).
2. Runs the fold "hold out subject 1" of the cross-subject task in a fresh child process through the
   production code path (``bench.tasks.retrieval.Retrieval.run``: pooled float16 cache of the nine
   training subjects, validation split by image, TrainingSet construction, NICE with the
   cross-subject recipe's batch of 512, test on subject 1). Training is cut to ``--batches`` batches
   per epoch (``--epochs`` epochs) by handing ``fit`` views of the first rows of the full-size sets
   (the full sets stay referenced, so they are in the measurement); use ``--batches 0`` for whole epochs.
3. Reports the child's peak RSS (``getrusage`` ru_maxrss = VmHWM) and the peak of a 0.1 s RSS
   sampler per phase, next to the bytes the published pipeline holds (all ten subjects' train and
   test files as float64 arrays: 103.5 GB at full size) and the ratio between them.

Disk: small ~2.2 GB of EEG + ~0.9 GB of cache; full ~10.3 GB + 4.4 GB. The ``data/`` and ``cache/``
folders it creates are removed afterwards unless ``--keep`` (then the next run reuses them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_SUBJECTS = 10
HELD_OUT = 1


def _size(full: bool):
    from bench.data.simulate.things_eeg2 import SIZES, SizeSpec

    base = SIZES["full" if full else "small"]
    return SizeSpec(train_concepts=base.train_concepts, images_per_concept=base.images_per_concept,
                    test_concepts=base.test_concepts, train_reps=base.train_reps, test_reps=base.test_reps,
                    image_size=64)


def prepare(root: Path, full: bool, progress: bool) -> dict:
    """Simulate subject 1 under ``root`` (reused when present) and link it into subjects 2..10."""
    from bench.data.simulate import read_simulation_info
    from bench.data.simulate.things_eeg2 import write_things_eeg2
    from bench.data.things_eeg2 import FILE_NAMES, LAYOUTS

    spec = _size(full)
    info = read_simulation_info(root)
    t = time.perf_counter()
    if info is None or info.get("size_spec", {}).get("images_per_concept") != spec.images_per_concept \
            or info.get("size_spec", {}).get("test_reps") != spec.test_reps:
        if root.exists():
            shutil.rmtree(root)
        write_things_eeg2(root, size=spec, subjects=1, seed=0, snr=0.05, progress=progress)
    simulate_s = time.perf_counter() - t
    folder = root / LAYOUTS["250hz"].folder
    for s in range(2, N_SUBJECTS + 1):
        (folder / f"sub-{s:02d}").mkdir(parents=True, exist_ok=True)
        for name in FILE_NAMES.values():
            src, dst = folder / "sub-01" / name, folder / f"sub-{s:02d}" / name
            if not dst.exists():
                try:
                    os.link(src, dst)
                except OSError:
                    os.symlink(src, dst)
    return {"simulate_seconds": round(simulate_s, 1), "size_spec": spec.__dict__}


class _Sampler(threading.Thread):
    """Samples this process's VmRSS every ``interval`` s; ``mark(phase)`` starts a new phase."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self.order: list[str] = []
        self._stop = threading.Event()

    @staticmethod
    def rss_bytes() -> float:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) * 1024
        return float("nan")

    def mark(self, phase: str) -> None:
        self._sample()
        self.phase = phase
        self._sample()

    def _sample(self) -> None:
        value = self.rss_bytes()
        if self.phase not in self.peaks:
            self.order.append(self.phase)
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), value)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._sample()


def child(cfg: dict) -> dict:
    """Run the fold in this process and return the measurements (called with --child)."""
    sampler = _Sampler()
    sampler.start()
    sampler.mark("imports")
    import torch

    import bench.data.pooling as pooling
    import bench.training.loop as loop
    from bench.config.schema import (ComponentSpec, DatasetSpec, OptimizerSpec, RecipeSpec, SubmissionSpec,
                                     TaskSpec, TemperatureSpec)
    from bench.settings import load_settings
    from bench.tasks.base import Unit
    from bench.tasks.retrieval import Retrieval

    torch.set_num_threads(cfg["threads"])
    settings = load_settings(data_root=Path(cfg["data_root"]), cache_dir=Path(cfg["cache_dir"]),
                             weights_dir=Path(cfg["cache_dir"]) / "weights", device="cpu",
                             tracking_uri=f"sqlite:///{cfg['cache_dir']}/unused.db")
    task = TaskSpec(name="things-eeg2-cross-subject-memory", version=1, kind="retrieval",
                    dataset=DatasetSpec(name="things-eeg2", variant="250hz", source="real",
                                        subjects=list(range(1, N_SUBJECTS + 1))),
                    scheme="leave-one-subject-out", seeds=[0])
    sub = SubmissionSpec(name="nice-loso-memory", tasks=[task.name], encoder=ComponentSpec(name="nice"),
                         image_model=ComponentSpec(name="pixels-colour-texture"),
                         recipe=RecipeSpec(batch_size=512, epochs=cfg["epochs"], early_stopping_patience=None,
                                           temperature=TemperatureSpec(initial=0.04),
                                           optimizer=OptimizerSpec(name="adamw", lr=1e-4)))
    unit = Unit(task, sub, f"loso-{HELD_OUT:02d}", HELD_OUT, 0)
    seen: dict = {}

    real_pool, real_fit, real_embed = pooling.pool_subjects, loop.fit, loop.embed

    def pool_subjects(*args, **kwargs):
        sampler.mark("load+pool training subjects")
        out = real_pool(*args, **kwargs)
        seen["pooled_rows"] = len(out)
        seen["storage"] = sorted(set(out.info["storage"].values()))
        seen["pooled_bytes"] = out.nbytes
        sampler.mark("embed images + build train/val sets")
        return out

    def fit(encoder, train, val, recipe, **kwargs):
        seen["train_rows"], seen["val_rows"] = len(train), len(val)
        seen["trainer_signal_bytes"] = int(train.signals.nbytes + val.signals.nbytes)
        seen["trainer_target_bytes"] = int(train.targets.nbytes + val.targets.nbytes)
        seen["signal_dtype"] = str(train.signals.dtype)
        seen["train_subjects"] = sorted(set(train.subjects.tolist()) | set(val.subjects.tolist()))
        sampler.mark("train")
        k = cfg["batches"] * recipe.batch_size
        if k:
            cut = lambda s, n: loop.TrainingSet(s.signals[:n], s.targets[:n], s.image_index[:n],  # noqa: E731
                                                s.concepts[:n], s.subjects[:n])
            train, val = cut(train, k), cut(val, max(2, k // 9))
        result = real_fit(encoder, train, val, recipe, **kwargs)
        sampler.mark("test")
        return result

    pooling.pool_subjects, loop.fit = pool_subjects, fit
    sampler.mark("setup")
    t = time.perf_counter()
    out = Retrieval(task).run(unit, settings, progress=False)
    seconds = time.perf_counter() - t
    sampler.stop()
    ru_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peaks = {p: round(sampler.peaks[p] / 2**30, 3) for p in sampler.order}
    return {"peak_rss_bytes": ru_max, "phase_peak_rss_gib": peaks, "seconds": round(seconds, 1),
            "timings": {k: round(v, 1) for k, v in out.timings.items()}, "top1": out.metrics.get("top1"),
            "n_test": out.info.get("n_test"), **seen}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="published shapes (16540 x 4 x 63 x 250 per subject)")
    ap.add_argument("--workdir", type=Path, default=None, help="where data and caches go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir (reused by the next run)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batches", type=int, default=4, help="training batches per epoch (0: whole epochs)")
    ap.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-loso-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    data_root = work / "data"
    try:
        prep = prepare(data_root / "things-eeg2", args.full, progress=not args.quiet)
        cfg = {"data_root": str(data_root), "cache_dir": str(work / "cache"), "epochs": args.epochs,
               "batches": args.batches, "threads": args.threads}
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            return proc.returncode or 1
        res = json.loads(lines[-1][len("RESULT "):])
    finally:
        if not args.keep:                      # only what this script created
            for sub in ("data", "cache"):
                shutil.rmtree(work / sub, ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)

    spec = prep["size_spec"]
    n_train, n_test = spec["train_concepts"] * spec["images_per_concept"], spec["test_concepts"]
    per_item = 63 * 250 * 8
    all_files_f64 = N_SUBJECTS * (n_train * spec["train_reps"] + n_test * spec["test_reps"]) * per_item
    all_avg_f64 = N_SUBJECTS * n_train * per_item
    peak = res["peak_rss_bytes"]
    report = {
        "size": "full" if args.full else "small", **prep, **res,
        "peak_rss_gib": round(peak / 2**30, 3),
        "all_subjects_float64_files_gib": round(all_files_f64 / 2**30, 2),
        "all_subjects_float64_averaged_gib": round(all_avg_f64 / 2**30, 2),
        "ratio_peak_to_float64_files": round(peak / all_files_f64, 4),
        "ratio_peak_to_float64_averaged": round(peak / all_avg_f64, 4),
        "target_peak_gib": 8.0 if args.full else None,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"LOSO fold memory ({report['size']}: {N_SUBJECTS} subjects, train {n_train} x {spec['train_reps']} reps, "
          f"test {n_test} x {spec['test_reps']} reps, 63 ch x 250 samples; held out: subject {HELD_OUT})")
    print(f"  peak RSS of the fold:            {report['peak_rss_gib']:.2f} GiB")
    for phase, gib in res["phase_peak_rss_gib"].items():
        print(f"    {phase:<38} {gib:.2f} GiB")
    print(f"  trainer received:                {res.get('train_rows')} + {res.get('val_rows')} rows, "
          f"{res.get('signal_dtype')}, {res.get('trainer_signal_bytes', 0) / 2**30:.2f} GiB of signals, "
          f"{res.get('trainer_target_bytes', 0) / 2**30:.2f} GiB of targets; subjects {res.get('train_subjects')}")
    print(f"  all {N_SUBJECTS} subjects as float64 files:  {report['all_subjects_float64_files_gib']:.2f} GiB  "
          f"-> ratio {report['ratio_peak_to_float64_files']:.4f} "
          f"({1 / report['ratio_peak_to_float64_files']:.1f}x less)")
    print(f"  all {N_SUBJECTS} subjects float64 averaged: {report['all_subjects_float64_averaged_gib']:.2f} GiB  "
          f"-> ratio {report['ratio_peak_to_float64_averaged']:.4f}")
    print(f"  fold seconds: {res['seconds']} (simulation {prep['simulate_seconds']} s); timings {res['timings']}")
    if args.full and peak > 8 * 2**30:
        print("  FAIL: peak RSS above the 8 GB target")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
