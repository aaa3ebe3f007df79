"""Benchmark compatibility-suppression saliency: time per image of exact vs strided maps, and their agreement.

Palazzo's map needs ``H x W x 6`` forward passes per image (one per pixel and patch size); the
strided mode evaluates patch centres every ``stride`` pixels and interpolates. This script

1. simulates a tiny ImageNet-EEG (or uses ``--root``), trains a submission's siamese model on it
   (a few epochs: the map's structure, not its quality, matters here);
2. computes, for ``--images`` test images, the exact map and the strided maps for each stride, with
   the same batched engine the task uses (``bench.tasks.saliency.suppression_map``);
3. prints, per mode: forward passes per image, seconds per image (median over images), passes per
   second, the speed-up over exact (exact time / strided time) and the agreement with the exact
   map: Pearson CC (``bench.metrics.saliency.cc``), mean over images, and the minimum.

    python ci/bench_saliency.py                      # ~1-2 min on 2 CPU cores
    python ci/bench_saliency.py --strides 2,4,8,16 --images 6 --json out.json
    python ci/bench_saliency.py --device cuda --submission submissions/demo_palazzo.yaml (the recurrent encoder)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", default=str(ROOT / "submissions" / "demo_palazzo_nice.yaml"))
    parser.add_argument("--root", type=Path, default=None, help="an ImageNet-EEG folder (default: simulate tiny)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--strides", default="2,4,8")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--sigma-reference", type=int, default=96,
                        help="scale the paper sigmas by input size / this (96: as the demo task; 0: unscaled)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from bench.config import load_submission
    from bench.data.imagenet_eeg import ImageNetEEG
    from bench.data.simulate.imagenet_eeg import write_imagenet_eeg
    from bench.metrics.saliency import cc
    from bench.settings import load_settings
    from bench.training.image_inputs import load_input
    from bench.tasks.palazzo import load_joint_data
    from bench.training.joint import train_joint
    from bench.tasks.saliency import PALAZZO_SIGMAS, grid_positions, scaled_sigmas, suppression_map

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-saliency-"))
    root = args.root or write_imagenet_eeg(tmp / "imagenet-eeg", size="tiny", subjects=2, seed=0)
    settings = load_settings(cache_dir=tmp / "cache", weights_dir=os.environ.get("BENCH_WEIGHTS_DIR", tmp / "w"),
                             tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", device=args.device)
    sub = load_submission(args.submission, {"recipe": {"epochs": args.epochs}}).spec
    ds = ImageNetEEG(root)
    subjects = ds.subjects()
    t = time.perf_counter()
    data = load_joint_data(ds, subjects)
    trained = train_joint(sub, data, settings, seed=0)
    train_seconds = time.perf_counter() - t

    test = ds.load_subjects(subjects, "test")
    images = ds.images("test")
    emb = trained.eeg_embedding(test.signals, test.subjects)
    spec = trained.spec
    sigmas = scaled_sigmas(PALAZZO_SIGMAS, spec.size, args.sigma_reference or None)
    strides = [1] + [int(s) for s in args.strides.split(",") if s.strip()]
    times: dict[int, list[float]] = {s: [] for s in strides}
    agreement: dict[int, list[float]] = {s: [] for s in strides if s > 1}
    for image_id, path in list(zip(images.ids, images.paths))[: args.images]:
        x, _ = load_input(path, spec)
        rows = [i for i, k in enumerate(test.image_ids) if k == image_id]
        brain = trained.brain_vectors(emb[rows])

        def compat(batch, brain=brain):
            return trained.similarity(brain, trained.image_vectors(batch)).mean(0)

        maps = {}
        for stride in strides:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            maps[stride] = suppression_map(compat, x, sigmas, stride=stride, batch_size=args.batch_size,
                                           fill=spec.fill, device=trained.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times[stride].append(time.perf_counter() - t)
        for stride in agreement:
            agreement[stride].append(cc(maps[stride], maps[1]))

    exact = float(np.median(times[1]))
    rows_out = []
    for stride in strides:
        passes = len(sigmas) * len(grid_positions(spec.size, stride)) ** 2
        sec = float(np.median(times[stride]))
        row = {"mode": "exact" if stride == 1 else f"strided/{stride}", "stride": stride,
               "forward_passes_per_image": passes, "seconds_per_image": sec, "passes_per_second": passes / sec,
               "speedup_vs_exact": exact / sec,
               "cc_vs_exact_mean": float(np.mean(agreement[stride])) if stride > 1 else 1.0,
               "cc_vs_exact_min": float(np.min(agreement[stride])) if stride > 1 else 1.0}
        rows_out.append(row)
    report = {"device": args.device, "threads": torch.get_num_threads(), "machine": platform.processor() or
              platform.machine(), "load_average": os.getloadavg()[0], "input_size": spec.size,
              "image_model": trained.image_model.model_id, "sigmas_pixels": sigmas, "images": len(times[1]),
              "train_seconds": train_seconds, "batch_size": args.batch_size, "results": rows_out}

    print(f"saliency maps: {report['image_model']} input {spec.size}px, sigmas {sigmas}, {report['images']} images, "
          f"device {args.device} ({report['threads']} threads, load {report['load_average']:.1f})")
    print(f"{'mode':<12}{'passes/img':>12}{'s/img':>10}{'passes/s':>11}{'speed-up':>10}{'CC mean':>10}{'CC min':>9}")
    for r in rows_out:
        print(f"{r['mode']:<12}{r['forward_passes_per_image']:>12}{r['seconds_per_image']:>10.3f}"
              f"{r['passes_per_second']:>11.0f}{r['speedup_vs_exact']:>9.1f}x{r['cc_vs_exact_mean']:>10.4f}"
              f"{r['cc_vs_exact_min']:>9.4f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
