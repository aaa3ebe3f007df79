"""The full THINGS-EEG2 protocol's cost (10 subjects x 5 seeds) for one submission, from measured units.

Runs every seed given (default 2) of **one subject at full size** -- simulated THINGS-EEG2 in the
published 250 Hz layout, (16540, 4, 63, 250) training and (200, 80, 63, 250) test arrays, or real
data with ``--data-root`` -- through ``bench evaluate`` (``--jobs 1``, a fresh store), reads each
unit's timings from its record, and extrapolates to the protocol's 50 units:

- the first seed of a subject reads its files; a further seed of the same subject reuses them (the
  kept load, ``bench/data/last_read.py``) and the image embeddings (cached on disk);
- a first unit of another subject costs a further seed's unit plus the measured reads (training
  data, test data);
- the invocation's time outside units is paid once.

Printed: each unit's phases (data, image embeddings, training set-up, epochs with seconds per
epoch, test evaluation, rest), the estimated protocol wall time and its non-training share. The
simulation is written once into the cache (``--cache-dir``, default the user's) and timed apart:
users read real files instead. The image model defaults to the weight-free ``pixels-colour-texture``
(no downloads; its embedding is paid once per image set and cached, so it does not scale with the
units); ``--image-model keep`` keeps the submission's own (its weights must be present).

    python ci/bench_protocol.py --device cuda                          # the GPU measurement of issue 15
    python ci/bench_protocol.py --size small --epochs 3                # a quick CPU run
    python ci/bench_protocol.py --submission submissions/atm_dreamsim.yaml --image-model keep \\
        --data-root /data --device cuda                                # real data and weights
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ci"))

from bench_evaluate import PROTOCOL_UNITS, outside_phases, read_store, run_demo  # noqa: E402

BASE_TASK = ROOT / "tasks" / "things-eeg2-retrieval-200.yaml"
SUBJECTS, SEEDS = 10, 5                      # the protocol: 10 subjects x 5 seeds
assert SUBJECTS * SEEDS == PROTOCOL_UNITS


def write_variants(workdir: Path, submission: Path, *, size: str, seeds: int, real: bool,
                   image_model: str, epochs: int | None) -> tuple[Path, Path]:
    """(task file, submission file): the protocol task on subject 1 with ``seeds`` seeds (simulated at
    ``size`` unless ``real``), and ``submission`` on it (its image model replaced unless ``keep``)."""
    task: dict = {"extends": str(BASE_TASK), "name": f"things-eeg2-retrieval-200-bench-{'real' if real else size}",
                  "dataset": {"subjects": [1]}, "seeds": list(range(seeds))}
    if not real:
        task["variant"] = f"simulated-{size}"
        task["dataset"].update(source="simulated", simulation={"size": size, "n_subjects": 1, "seed": 0, "snr": 1.0})
    task_file = workdir / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    sub: dict = {"extends": str(submission.resolve()), "name": f"{submission.stem}-bench", "tasks": [str(task_file)]}
    if image_model != "keep":
        sub["image_model"] = {"name": image_model, "params": {}}
    if epochs is not None:
        sub["recipe"] = {"epochs": int(epochs)}
    sub_file = workdir / "submission.yaml"
    sub_file.write_text(yaml.safe_dump(sub))
    return task_file, sub_file


def simulate(task_file: Path, cache_dir: Path | None) -> float:
    """Write (or find) the task's simulated data in the cache; seconds it took."""
    from bench.config import load_task
    from bench.data.locate import dataset_root
    from bench.settings import Settings

    spec = load_task(task_file).spec
    settings = Settings() if cache_dir is None else Settings().with_(cache_dir=cache_dir)
    t0 = time.perf_counter()
    dataset_root(spec.dataset, settings, progress=sys.stderr.isatty())
    return time.perf_counter() - t0


def extrapolate(wall_s: float, units: list[dict[str, float]], subjects: int = SUBJECTS,
                seeds: int = SEEDS) -> dict[str, float]:
    """The protocol's wall time and non-training share, estimated from one subject's units in seed order.

    ``units[0]`` is the subject's first seed (it reads the files, embeds the images and pays the
    process's first calls); ``units[1:]`` further seeds (kept load, cached embeddings): their median
    is every further seed's cost. A first seed of another subject = a further seed + the first
    unit's extra time reading data (``load_train``, and ``evaluate``, which reads the test data).
    The time outside the units (start-up, planning, records) is paid once. Needs >= 2 units.
    """
    if len(units) < 2:
        raise ValueError("the extrapolation needs at least 2 seeds of the subject (the first reads the files)")
    first, further = units[0], units[1:]
    med = {k: float(statistics.median(u.get(k, 0.0) for u in further)) for k in ("total", "epochs", "load_train", "evaluate")}
    reads = max(0.0, first["load_train"] - med["load_train"]) + max(0.0, first["evaluate"] - med["evaluate"])
    outside = wall_s - sum(u["total"] for u in units)
    n_total, n_measured = subjects * seeds, len(units)
    if n_measured > seeds:
        raise ValueError(f"measured {n_measured} units, more than one subject's {seeds} seeds")
    n_first_other = subjects - 1
    n_further = n_total - n_measured - n_first_other
    total = wall_s + n_first_other * (med["total"] + reads) + n_further * med["total"]
    epochs = sum(u.get("epochs", 0.0) for u in units) + (n_total - n_measured) * med["epochs"]
    return {"protocol_s": total, "protocol_epochs_s": epochs, "protocol_share": 1.0 - epochs / total,
            "further_unit_s": med["total"], "further_unit_epochs_s": med["epochs"], "subject_reads_s": reads,
            "outside_units_s": outside, "units": float(n_total)}


def report(units: list[dict[str, float]], est: dict[str, float], device: str) -> None:
    print(f"device: {device}")
    print("seed  data  images  set-up  epochs (n, s/epoch)      test eval  rest   total")
    for seed, t in enumerate(units):
        n = t.get("n_epochs", 0.0)
        per = t["epochs"] / n if n else float("nan")
        print(f"{seed:4d} {t['load_train']:5.1f} {t['embed_train_images']:7.1f} {t['train'] - t['epochs']:7.1f} "
              f"{t['epochs']:8.1f} ({int(n):3d}, {per:6.2f} s) {t['evaluate']:12.1f} {outside_phases(t):6.1f} {t['total']:7.1f}")
    print(f"protocol ({int(est['units'])} units = {SUBJECTS} subjects x {SEEDS} seeds), estimated from these: "
          f"{est['protocol_s'] / 60:.1f} min wall, {est['protocol_epochs_s'] / 60:.1f} min of it training epochs; "
          f"non-training share {100 * est['protocol_share']:.1f} % (further seed {est['further_unit_s']:.1f} s, "
          f"a subject's reads {est['subject_reads_s']:.1f} s, outside units {est['outside_units_s']:.1f} s once)")


def _device_name(device: str) -> str:
    import platform

    import torch

    if device != "cpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    model = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU {model} x {os.cpu_count()}, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submission", type=Path, default=ROOT / "submissions" / "nice_dreamsim.yaml")
    parser.add_argument("--size", default="full", choices=["micro", "tiny", "small", "full"],
                        help="simulated size (default full: the published shapes)")
    parser.add_argument("--data-root", type=Path, default=None, help="real THINGS-EEG2 under DIR/things-eeg2/")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of subject 1 to run (>= 2)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (time budget)")
    parser.add_argument("--image-model", default="pixels-colour-texture", help="'keep': the submission's own")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--cache-dir", type=Path, default=None, help="simulations and embeddings (default: user's)")
    parser.add_argument("--keep", type=Path, default=None, help="run in this directory and keep it")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be >= 2: the first seed reads the files, the next ones show a further unit's cost")

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        task_file, sub_file = write_variants(workdir, args.submission, size=args.size, seeds=args.seeds,
                                             real=args.data_root is not None, image_model=args.image_model,
                                             epochs=args.epochs)
        simulated_s = 0.0
        if args.data_root is None:
            simulated_s = simulate(task_file, args.cache_dir)
            print(f"simulated data ({args.size}, 1 subject): {simulated_s:.0f} s (once; not part of the protocol)",
                  flush=True)
        extra = ["--device", args.device]
        if args.cache_dir is not None:
            extra += ["--cache-dir", str(args.cache_dir)]
        if args.data_root is not None:
            extra += ["--data-root", str(args.data_root)]
        process_wall = run_demo(str(sub_file), workdir, extra)
        wall, units, run_id = read_store(f"sqlite:///{workdir / 'mlflow.db'}")
    if len(units) != args.seeds:
        raise SystemExit(f"expected {args.seeds} finished units, the store holds {len(units)}")
    units = sorted(units, key=lambda t: t["seed"])
    est = extrapolate(wall, units)
    report(units, est, _device_name(args.device))
    print(f"invocation {wall:.1f} s (process {process_wall:.1f} s); load average after: {os.getloadavg()[0]:.2f}")
    result = {**est, "invocation_s": wall, "process_s": process_wall, "simulated_s": simulated_s,
              "size": args.size if args.data_root is None else "real", "units_measured": units}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
