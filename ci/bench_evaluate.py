"""Where a whole ``bench evaluate`` invocation spends its time: the demo's non-training share.

Runs the demo plan (``bench evaluate submissions/demo.yaml``, one unit at a time) in a fresh MLflow
store in a temporary directory -- or reads an existing store with ``--store`` -- and splits the
invocation's wall time, from the records' own timings, into

- training: the training epochs and their validation passes (the sum of the record's per-epoch
  ``epoch_seconds`` curve, ``epochs`` below),
- the rest of the training phase (``timings.train`` minus the epochs): building the training sets,
  the model and the optimizer (its first step imports dynamo), logging each epoch to MLflow,
  choosing the checkpoint,
- the other unit phases (loading the data, image embeddings, the test evaluation),
- the rest of each unit (``timings.total`` minus its phases) and everything outside the units:
  start-up, imports, planning and unit keys (file checksums), writing the records to MLflow.

The non-training share = 1 - epochs / wall. Issue 15's target is < 10 % on an idle machine. It is
also extrapolated to the 50 units of the full protocol (:func:`projected_share`). Data
and image embeddings come from the user's cache (``~/.cache/brainvis-bench``): the first run on a
fresh machine also simulates the data and embeds the images, so run it twice and read the second.
The units run sequentially (``--jobs 1``) so that the shares add up; the load average is printed.
A shared machine's noise moves a single run's share by several points (the same demo's epochs took
14-20 s minutes apart): ``--rounds N`` runs the demo N times, each into a fresh store, prints every
round's share and reports the quietest round (the shortest invocation), with the rounds' range.
The demo's units are tiny: ``ci/bench_protocol.py`` times full-size units of one subject and
extrapolates the full protocol from them (on a CPU or a GPU).

    python ci/bench_evaluate.py                               # the demo, fresh store, ~minutes
    python ci/bench_evaluate.py --rounds 3                    # three runs, the quietest reported
    python ci/bench_evaluate.py --submission submissions/demo_atm.yaml
    python ci/bench_evaluate.py --store sqlite:///mlflow.db   # the latest invocation in that store
    python ci/bench_evaluate.py --jobs-ratio 2                # --jobs 2 vs sequential 2-thread units
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

PHASES = ("load_train", "embed_train_images", "train", "evaluate")
PROTOCOL_UNITS = 50      # THINGS-EEG2 retrieval: 10 subjects x 5 seeds


def _unit_total(timings: dict[str, float]) -> float:
    """A unit's ``total`` (its phases' sum where the record has none)."""
    return timings.get("total", sum(timings.get(p, 0.0) for p in PHASES))


def outside_phases(timings: dict[str, float]) -> float:
    """A unit's time inside it but outside its phases (its total minus the phases' sum)."""
    return _unit_total(timings) - sum(timings.get(p, 0.0) for p in PHASES)


def _epochs(timings: dict[str, float]) -> float:
    """A unit's time in training epochs (``epochs``; the whole ``train`` phase where it has no curve)."""
    return timings.get("epochs", timings.get("train", 0.0))


def shares(wall_s: float, unit_timings: list[dict[str, float]]) -> dict[str, float]:
    """Seconds and shares of ``wall_s`` per phase, summed over sequential units' ``timings``.

    Keys: ``wall_s``, ``<phase>_s`` for each phase, ``epochs_s`` (training epochs: the part of
    ``train`` that counts as training) and ``train_setup_s`` (the rest of ``train``), ``unit_other_s``
    (inside units, outside the phases), ``outside_units_s`` (wall minus the units' totals),
    ``non_training_s`` (wall minus the epochs) and every ``*_share``; with
    units, ``unit_min_s``/``unit_median_s``/``unit_max_s`` (the slowest unit of a sequential run is
    the one that pays the process's one-off costs: imports, first calls).
    """
    if wall_s <= 0:
        raise ValueError(f"wall time must be positive, got {wall_s}")
    out: dict[str, float] = {"wall_s": wall_s, "units": float(len(unit_timings))}
    for phase in PHASES:
        out[f"{phase}_s"] = sum(t.get(phase, 0.0) for t in unit_timings)
    per_unit = sorted(_unit_total(t) for t in unit_timings)
    totals = sum(per_unit)
    if per_unit:      # the slowest unit carries what each process pays once (imports, first calls)
        out["unit_min_s"], out["unit_median_s"], out["unit_max_s"] = (
            per_unit[0], float(statistics.median(per_unit)), per_unit[-1])
    out["epochs_s"] = sum(_epochs(t) for t in unit_timings)
    out["train_setup_s"] = out["train_s"] - out["epochs_s"]
    out["unit_other_s"] = sum(outside_phases(t) for t in unit_timings)
    out["outside_units_s"] = wall_s - totals
    out["non_training_s"] = wall_s - out["epochs_s"]
    for name in [*(f"{p}_s" for p in PHASES), "epochs_s", "train_setup_s", "unit_other_s", "outside_units_s",
                 "non_training_s"]:
        out[name.removesuffix("_s") + "_share"] = out[name] / wall_s
    return out


def projected_share(wall_s: float, unit_timings: list[dict[str, float]], n_units: int) -> dict[str, float]:
    """The non-training share extrapolated to a plan of ``n_units`` units like these (an estimate).

    Each unit added beyond the measured ones costs the median over the units but the slowest (which
    pays the process's one-off costs) of its training epochs and of the rest of it, plus the time outside
    units spread over the units (an overestimate: it holds the invocation's own start and end too).
    At ``n_units`` = the measured count this is the measured share. ``fixed_s``: the non-training
    time the marginal costs do not explain (imports, first calls). Empty with fewer than 2 units.
    """
    if len(unit_timings) < 2:
        return {}
    totals = [_unit_total(t) for t in unit_timings]
    slowest = max(range(len(totals)), key=totals.__getitem__)
    rest = [(totals[i], _epochs(t)) for i, t in enumerate(unit_timings) if i != slowest]
    per_train = float(statistics.median(train for _, train in rest))
    per_other = float(statistics.median(total - train for total, train in rest))
    per_write = (wall_s - sum(totals)) / len(unit_timings)
    marginal = per_other + per_write
    non_training = wall_s - sum(_epochs(t) for t in unit_timings)
    more = n_units - len(unit_timings)
    share = (non_training + more * marginal) / (wall_s + more * (marginal + per_train))
    fixed = non_training - len(unit_timings) * marginal
    return {"per_unit_train_s": per_train, "per_unit_non_training_s": marginal, "fixed_s": fixed,
            "projected_units": float(n_units), "projected_share": share}


def read_store(uri: str, invocation: str | None = None) -> tuple[float, list[dict[str, float]], str]:
    """(invocation wall seconds, its units' timings, its run id) of the latest (or given) invocation.

    Each unit's timings gain ``epochs``: the sum of its per-epoch ``epoch_seconds`` curve, and
    ``n_epochs`` (that curve's length), ``subject`` and ``seed``."""
    from bench.records.mlflow_store import RecordStore

    store = RecordStore(uri, create=False)
    runs = store._search("tags.`bench.kind` = 'invocation'")
    if invocation:
        runs = [r for r in runs if r.info.run_id == invocation]
    runs = [r for r in runs if r.info.end_time]
    if not runs:
        raise SystemExit(f"{uri}: no finished invocation found")
    parent = max(runs, key=lambda r: r.info.start_time)
    children = {r.info.run_id for r in store._search("tags.`bench.kind` = 'unit'")
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    records = [r for r in store.records(include_failed=True) if r.run_id in children]
    wall = (parent.info.end_time - parent.info.start_time) / 1000.0
    timings = []
    for r in records:
        t = dict(r.timings)
        if r.curves.get("epoch_seconds"):
            t["epochs"] = float(sum(r.curves["epoch_seconds"]))
            t["n_epochs"] = float(len(r.curves["epoch_seconds"]))
        t["subject"], t["seed"] = float(r.subject), float(r.seed)
        timings.append(t)
    return wall, timings, parent.info.run_id


def run_demo(submission: str, workdir: Path, extra: list[str], jobs: int = 1, threads: int | None = None) -> float:
    """Run ``bench evaluate --jobs N`` in ``workdir`` with a fresh store there; returns the process wall time.

    ``threads``: torch threads per unit (``BENCH_NUM_THREADS``; None = torch's default, the cores).
    """
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("BENCH_NUM_THREADS", None)
    if threads is not None:
        env["BENCH_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "bench", "evaluate", str(ROOT / submission) if not Path(submission).is_absolute()
           else submission, "--jobs", str(jobs), "--no-progress",
           "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench evaluate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def report(result: dict[str, float], process_wall: float | None = None) -> None:
    print(f"units: {int(result['units'])}; invocation wall {result['wall_s']:.1f} s (MLflow parent run)"
          + (f"; process wall {process_wall:.1f} s (with interpreter start-up and imports)" if process_wall else ""))
    rows = [("training epochs", "epochs"), ("training set-up", "train_setup"), ("data loading", "load_train"),
            ("image embeddings", "embed_train_images"), ("test evaluation", "evaluate"),
            ("rest of units", "unit_other"), ("outside units", "outside_units")]
    for label, key in rows:
        print(f"  {label:18s} {result[key + '_s']:8.1f} s  {100 * result[key + '_share']:5.1f} %")
    if "unit_max_s" in result:
        print(f"units took {result['unit_min_s']:.1f}-{result['unit_max_s']:.1f} s each (median "
              f"{result['unit_median_s']:.1f} s; the slowest pays the process's imports and first calls)")
    print(f"non-training share: {100 * result['non_training_share']:.1f} % of the invocation (target < 10 % idle)")
    if process_wall:
        print(f"non-training share of the whole process: {100 * (1 - result['epochs_s'] / process_wall):.1f} %")
    if "projected_share" in result:
        print(f"per further unit: {result['per_unit_non_training_s']:.2f} s outside training, "
              f"{result['per_unit_train_s']:.2f} s training; one-off {result['fixed_s']:.1f} s; extrapolated to "
              f"{int(result['projected_units'])} units (the full THINGS-EEG2 protocol, 10 subjects x 5 seeds): "
              f"non-training share {100 * result['projected_share']:.1f} % (an estimate)")


def quietest(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The round with the shortest invocation wall (the least disturbed by other work), with the
    rounds' ``non_training_share`` range (``share_min``/``share_median``/``share_max``) and count."""
    if not rounds:
        raise ValueError("no rounds")
    best = dict(min(rounds, key=lambda r: r["wall_s"]))
    shares_ = [r["non_training_share"] for r in rounds]
    best.update(rounds=float(len(rounds)), share_min=min(shares_), share_median=float(statistics.median(shares_)),
                share_max=max(shares_))
    return best


def store_metrics(uri: str) -> dict[str, dict[str, float]]:
    """Finished records' metrics by unit key."""
    from bench.records.mlflow_store import RecordStore

    return {r.key: dict(r.metrics) for r in RecordStore(uri, create=False).records() if r.finished}


def jobs_ratio(submission: str, rounds: int, jobs: int, extra: list[str]) -> dict[str, float]:
    """Throughput of ``--jobs N`` (one torch thread per unit) against sequential units at N threads each.

    Both run the whole plan into a fresh store, interleaved round by round (the order alternates),
    min of ``rounds`` process wall times each; the caches (data, embeddings) are warmed first. Also
    the largest metric difference between the two stores' records (different thread counts may move
    the last bits of a reduction; the same thread count gives identical records, see the tests).
    """
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        warm.mkdir()
        run_demo(submission, warm, extra, jobs=1)
        seq, par = [], []
        diff = 0.0
        for r in range(rounds):
            order = (("seq", 1, jobs), ("par", jobs, 1)) if r % 2 == 0 else (("par", jobs, 1), ("seq", 1, jobs))
            stores = {}
            for name, n_jobs, threads in order:
                wd = Path(tmp) / f"{name}{r}"
                wd.mkdir()
                wall = run_demo(submission, wd, extra, jobs=n_jobs, threads=threads)
                (seq if name == "seq" else par).append(wall)
                stores[name] = store_metrics(f"sqlite:///{wd / 'mlflow.db'}")
                print(f"  round {r + 1}: {name} (--jobs {n_jobs}, {threads} thread(s) per unit) {wall:.1f} s",
                      flush=True)
            if set(stores["seq"]) != set(stores["par"]):
                raise SystemExit("the sequential and parallel runs finished different units")
            for key, m in stores["seq"].items():
                for name, v in m.items():
                    diff = max(diff, abs(v - stores["par"][key].get(name, float("nan"))))
    out = {"sequential_s": min(seq), "parallel_s": min(par), "ratio": min(seq) / min(par),
           "max_metric_diff": diff, "jobs": float(jobs), "rounds": float(rounds)}
    print(f"--jobs {jobs} (1 thread each) {out['parallel_s']:.1f} s vs sequential ({jobs} threads each) "
          f"{out['sequential_s']:.1f} s: throughput ratio {out['ratio']:.2f}x (target >= 1.6x on 2 cores); "
          f"largest metric difference {diff:.3g}")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submission", default="submissions/demo.yaml")
    parser.add_argument("--store", default=None, help="read this tracking store instead of running")
    parser.add_argument("--invocation", default=None, help="with --store: this parent run id (default: latest)")
    parser.add_argument("--keep", type=Path, default=None, help="run in this directory and keep it")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the demo this many times (fresh store each); report the quietest round")
    parser.add_argument("--jobs-ratio", type=int, default=0, metavar="ROUNDS",
                        help="instead: --jobs N against sequential N-thread units, interleaved, min of ROUNDS")
    parser.add_argument("--jobs", type=int, default=2, help="with --jobs-ratio: N (default 2)")
    parser.add_argument("extra", nargs="*", help="more `bench evaluate` arguments (after --)")
    args = parser.parse_args(argv)

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.jobs_ratio:
        result = jobs_ratio(args.submission, args.jobs_ratio, args.jobs, args.extra)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return result
    if args.rounds < 1 or (args.store and args.rounds != 1):
        parser.error("--rounds must be >= 1, and 1 with --store")
    results = []
    for r in range(args.rounds):
        process_wall = None
        if args.store:
            wall, timings, run_id = read_store(args.store, args.invocation)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                keep = args.keep / f"round{r + 1}" if args.keep and args.rounds > 1 else args.keep
                workdir = keep or Path(tmp)
                workdir.mkdir(parents=True, exist_ok=True)
                process_wall = run_demo(args.submission, workdir, args.extra)
                wall, timings, run_id = read_store(f"sqlite:///{workdir / 'mlflow.db'}")
        result = shares(wall, timings)
        result.update(projected_share(wall, timings, PROTOCOL_UNITS))
        result["process_wall_s"] = process_wall or float("nan")
        result["invocation"] = run_id
        results.append(result)
        if args.rounds > 1:
            print(f"  round {r + 1}: invocation {wall:.1f} s, epochs {result['epochs_s']:.1f} s, non-training "
                  f"share {100 * result['non_training_share']:.1f} %; load average {os.getloadavg()[0]:.2f}",
                  flush=True)
    result = quietest(results)
    if args.rounds > 1:
        print(f"the quietest of {args.rounds} rounds (shortest invocation); the rounds' non-training shares "
              f"{100 * result['share_min']:.1f}-{100 * result['share_max']:.1f} % "
              f"(median {100 * result['share_median']:.1f} %)")
    report(result, None if math.isnan(result["process_wall_s"]) else result["process_wall_s"])
    print(f"load average after: {os.getloadavg()[0]:.2f}; invocation {result['invocation']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
