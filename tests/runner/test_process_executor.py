"""`bench evaluate --jobs N` workers: forked from a fork server that imported what units need, each
seeing the driver's environment as it is when the pool starts, and none outliving a killed driver."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.execution.executors import _start_method, start_worker_server, worker_pool
from tests.tuning.tiny import ROOT, write_tiny_plan

pytestmark = pytest.mark.skipif(_start_method() != "forkserver", reason="this platform has no fork server")


def _probe() -> dict:
    """What a worker sees (runs in the worker)."""
    import torch

    return {"env": os.environ.get("BENCH_TEST_PROBE"), "frozen": gc.get_freeze_count(), "pid": os.getpid(),
            "ppid": os.getppid(), "threads": torch.get_num_threads(), "offline": os.environ.get("HF_HUB_OFFLINE")}


@pytest.mark.integration
def test_workers_fork_from_the_preloaded_server_with_the_drivers_environment(monkeypatch):
    start_worker_server()
    monkeypatch.setenv("BENCH_TEST_PROBE", "set after the server started")   # the server never saw it
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with worker_pool(2, threads=1) as pool:
        seen = [f.result(timeout=120) for f in [pool.submit(_probe) for _ in range(2)]]
    for s in seen:
        assert s["env"] == "set after the server started"
        assert s["offline"] == "1"                      # WORKER_ENV fills what the driver leaves unset
        assert s["threads"] == 1
        assert s["frozen"] > 10_000                     # forked after worker_imports froze its objects
        assert s["ppid"] != os.getpid()                 # a child of the server, not of this process


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out |= {int(k) for k in kids}
    return out


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        try:
            kids = _children(todo.pop())
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo += sorted(kids - found)
        found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["evaluate", "tune"])
def test_killing_the_driver_leaves_no_worker_training(command, tmp_path, tiny_cache, tracking_uri):
    """kill -9 of `bench evaluate --jobs 2` / `bench tune --n-jobs 2`: the fork server and its workers
    go with it (the same pool)."""
    import yaml

    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0, 1), epochs=400)
    sub = yaml.safe_load(plan.submission.read_text())
    sub["recipe"]["early_stopping_patience"] = None          # units and trials train until killed
    plan.submission.write_text(yaml.safe_dump(sub, sort_keys=False))
    env = {**os.environ, "BENCH_TRACKING_URI": tracking_uri, "BENCH_CACHE_DIR": str(tiny_cache),
           "BENCH_DEVICE": "cpu"}
    args = ["evaluate", str(plan.submission), "--task", str(plan.task), "--no-progress", "--jobs", "2"]
    if command == "tune":
        space = tmp_path / "space.yaml"
        space.write_text(yaml.safe_dump({"pruner": {"name": "none"}, "params": {
            "recipe.optimizer.weight_decay": {"type": "float", "low": 0.0, "high": 0.1}}}))
        args = ["tune", str(plan.submission), "--task", str(plan.task), "--space", str(space), "--trials", "4",
                "--n-jobs", "2", "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--out",
                str(tmp_path / "best.yaml")]
    driver = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, workers = time.time() + 240, set()
        while time.time() < deadline and driver.poll() is None:
            # the server, its 2 workers and the resource tracker
            workers = _descendants(driver.pid)
            if len(workers) >= 4:
                break
            time.sleep(0.5)
        assert driver.poll() is None and len(workers) >= 4, f"workers did not start: {workers}"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        assert not [p for p in workers if _alive(p)], "processes outlived the killed driver"
    finally:
        if driver.poll() is None:
            driver.kill()
