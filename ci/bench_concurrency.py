"""Concurrency benchmark of the shared lab store (a script, not a timed test).

    python ci/bench_concurrency.py [--workers 4] [--tuners 2] [--seeds 8] [--epochs 2]

On a private PostgreSQL cluster on loopback (tests/scaleout/pg.py; needs Debian's postgresql, see
ci/install-system.sh) behind an `mlflow server` with proxied artifacts -- the README's lab setup:

1. sequential reference: one `bench evaluate --jobs 1` runs the plan (1 simulated subject x N seeds)
   into its own database, timed;
2. concurrent: W `bench evaluate --jobs 1` processes of the same plan start at once against a second
   database, while T `bench tune` workers add trials to one Optuna study in a third, timed;
3. prints: duplicated work (unit runs beyond one per key), lost units (planned keys without a
   finished record), whether the final `bench results` table equals the sequential one, the tune
   trials (complete / distinct parameter sets) and the wall-time ratio concurrent / sequential.

Exit status 1 when any unit was duplicated or lost or the tables differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", BENCH_DEVICE="cpu",
               BENCH_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def _bench(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _wait(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    for p, log in zip(procs, logs):
        if p.wait(timeout=3600) != 0:
            raise SystemExit(f"a worker failed ({p.returncode}):\n{log.read_text()[-3000:]}")


def _results(uri: str, task: str, env: dict[str, str]) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "bench", "results", "--task", task, "--format", "json",
                          "--tracking-uri", uri], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=4, help="concurrent `bench evaluate` processes (>= 4)")
    ap.add_argument("--tuners", type=int, default=2, help="concurrent `bench tune` workers")
    ap.add_argument("--seeds", type=int, default=8, help="units in the plan (1 subject x this many seeds)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--trials", type=int, default=2, help="trials per tune worker")
    args = ap.parse_args()

    import yaml

    from bench.records.mlflow_store import RecordStore
    from bench.tracking_server import start_mlflow_server
    from tests.scaleout.pg import available, start_postgres
    from tests.tuning.tiny import write_tiny_plan

    if not available():
        raise SystemExit("PostgreSQL server binaries not found: run ci/install-system.sh")
    work = Path(tempfile.mkdtemp(prefix="bench-concurrency-"))
    cache = work / "cache"
    plan = write_tiny_plan(work / "specs", cache, seeds=tuple(range(args.seeds)), epochs=args.epochs, name="conc")
    plan.dataset_root()  # simulate the data once, before anything is timed
    space = work / "space.yaml"
    space.write_text(yaml.safe_dump({"metric": "val_top1", "pruner": {"name": "none"}, "sampler": {"name": "random"},
                                     "params": {"recipe.optimizer.lr": {"type": "float", "low": 1e-4, "high": 3e-3,
                                                                        "log": True}}}))
    pg = start_postgres()
    servers = []
    try:
        seq_server = start_mlflow_server(pg.create_db("seq"), work / "seq-artifacts", timeout=300)
        servers.append(seq_server)
        con_server = start_mlflow_server(pg.create_db("con"), work / "con-artifacts", timeout=300)
        servers.append(con_server)
        optuna_url = pg.create_db("optuna")
        env = _env(BENCH_CACHE_DIR=str(cache))
        evaluate = ["evaluate", str(plan.submission), "--task", str(plan.task), "--no-progress", "--jobs", "1"]

        t0 = time.perf_counter()
        logs = [work / "seq.log"]
        _wait([_bench(evaluate + ["--tracking-uri", seq_server.uri], env, logs[0])], logs)
        t_seq = time.perf_counter() - t0

        t0 = time.perf_counter()
        logs = [work / f"eval-{i}.log" for i in range(args.workers)]
        procs = [_bench(evaluate + ["--tracking-uri", con_server.uri], env, log) for log in logs]
        tune_logs = [work / f"tune-{i}.log" for i in range(args.tuners)]
        tuners = [_bench(["tune", str(plan.submission), "--task", str(plan.task), "--space", str(space),
                          "--trials", str(args.trials), "--storage", optuna_url, "--study-name", "conc",
                          "--out", str(work / "best.yaml"), "--tracking-uri", con_server.uri, "--threads", "1"],
                         env, log) for log in tune_logs]
        _wait(procs, logs)
        t_con = time.perf_counter() - t0
        _wait(tuners, tune_logs)
        t_all = time.perf_counter() - t0

        store = RecordStore(con_server.uri)
        runs = store._search("tags.`bench.kind` = 'unit'")
        per_key = Counter(r.data.tags["bench.key"] for r in runs)
        planned = {r.key for r in RecordStore(seq_server.uri).records(task="conc-task")}
        finished = store.finished_keys()
        duplicated = sum(n - 1 for n in per_key.values())
        lost = len(planned - finished)
        same = _results(seq_server.uri, "conc-task", env) == _results(con_server.uri, "conc-task", env)
        import optuna

        from bench.tuning.study import open_storage

        trials = optuna.load_study(study_name="conc", storage=open_storage(optuna_url)).trials
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        ran = [int(line.split(" ran,")[0].rsplit(" ", 1)[1]) for log in logs for line in log.read_text().splitlines()
               if "units planned" in line]
        print(f"plan: {len(planned)} units (1 subject x {args.seeds} seeds, {args.epochs} epochs); "
              f"{args.workers} evaluate processes + {args.tuners} tune workers on PostgreSQL behind an MLflow server")
        print(f"units run per evaluate process: {ran} (sum {sum(ran)})")
        print(f"duplicated units: {duplicated}")
        print(f"lost units: {lost}")
        print(f"final table identical to the sequential run: {'yes' if same else 'NO'}")
        print(f"tune: {len(trials)} trials, {len(complete)} complete, "
              f"{len({tuple(sorted(t.params.items())) for t in complete})} distinct parameter sets")
        print(f"wall time: sequential {t_seq:.1f} s, {args.workers} concurrent {t_con:.1f} s "
              f"(ratio {t_con / t_seq:.2f}; with the tune workers running alongside), all workers done {t_all:.1f} s")
        print(f"cores available: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")
        return 0 if duplicated == 0 and lost == 0 and same else 1
    finally:
        for server in servers:
            server.stop()
        pg.stop()


if __name__ == "__main__":
    raise SystemExit(main())
