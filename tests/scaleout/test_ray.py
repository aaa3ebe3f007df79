"""The Ray executor: a real loopback cluster runs a plan; a killed invocation resumes without redoing
finished units; results equal the local executor's; a crashing unit fails alone."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.scaleout.procs import VENV_BIN, child_env, start, stop_session
from tests.tuning.tiny import write_tiny_plan

# Timing curves (epoch_seconds, train_seconds, train_cpu_seconds, ...) differ between runs; all end in "seconds".


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def ray_head(tmp_path):
    """`ray start --head` on 127.0.0.1 with 2 CPUs; stopped (every process of its session) afterwards."""
    port, agent, dash, env_agent, metrics = _free_ports(5)
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must stay short
    cmd = [str(VENV_BIN / "ray"), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
           "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard=false", "--disable-usage-stats",
           "--temp-dir", str(temp),
           "--dashboard-agent-listen-port", str(agent), "--dashboard-port", str(dash),
           "--runtime-env-agent-port", str(env_agent), "--metrics-export-port", str(metrics),
           "--object-store-memory", str(100 * 1024 * 1024)]
    log = tmp_path / "ray-start.log"
    head = start(cmd, log, child_env())
    try:
        rc = head.wait(timeout=180)
        if rc != 0:
            pytest.fail(f"ray start failed ({rc}):\n{log.read_text()[-3000:]}")
        yield f"127.0.0.1:{port}"
    finally:
        stop_session(head.pid, timeout=5)
        shutil.rmtree(temp, ignore_errors=True)


def _finished_unit_runs(store) -> list:
    return store._search("tags.`bench.kind` = 'unit' and tags.`bench.status` = 'finished' "
                         "and attributes.status = 'FINISHED'")


@pytest.mark.server
def test_ray_plan_killed_halfway_resumes_and_matches_local(tmp_path, tiny_cache, tracking_uri, ray_head,
                                                           _mlflow_template):
    from bench.records.mlflow_store import RecordStore
    from bench.runner import evaluate

    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0, 1, 2, 3), epochs=2)
    store = RecordStore(tracking_uri)  # the experiment exists before the driver starts
    env = child_env(BENCH_CACHE_DIR=str(tiny_cache), BENCH_NUM_THREADS="1")
    cmd = [str(VENV_BIN / "bench"), "evaluate", str(plan.submission), "--task", str(plan.task),
           "--executor", "ray", "--ray-address", ray_head, "--tracking-uri", tracking_uri, "--device", "cpu",
           "--no-progress"]

    # 1) run the 4-unit plan on the cluster; SIGKILL the driver as soon as a unit's record is in MLflow
    driver = start(cmd, tmp_path / "evaluate-1.log", env)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None and not _finished_unit_runs(store):
            time.sleep(0.3)
        if driver.poll() is not None:
            pytest.fail(f"the driver ended ({driver.returncode}) before it could be killed:\n"
                        + (tmp_path / "evaluate-1.log").read_text()[-3000:])
        assert _finished_unit_runs(store), "no unit finished in time"
    finally:
        stop_session(driver.pid, timeout=0)  # SIGKILL at once, like a crash
    before = {r.data.tags["bench.key"]: r.info.run_id for r in _finished_unit_runs(store)}
    assert 1 <= len(before) < 4, before

    # 2) the same command again: finished units are skipped, the rest run, nothing is redone
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    k = len(before)
    assert f"4 units planned: {k} already finished (skipped), {4 - k} ran, 0 failed" in rerun.stdout
    runs = _finished_unit_runs(store)
    keys = [r.data.tags["bench.key"] for r in runs]
    assert len(keys) == 4 and len(set(keys)) == 4  # each key exactly one finished run
    after = {r.data.tags["bench.key"]: r.info.run_id for r in runs}
    assert {key: after[key] for key in before} == before  # earlier units untouched
    all_unit_runs = store._search("tags.`bench.kind` = 'unit'")
    for key in before:  # no second run (not even an unfinished one) for a unit finished before the kill
        assert sum(r.data.tags["bench.key"] == key for r in all_unit_runs) == 1

    # 3) the local executor gives the same results for the same keys (same thread count: 1)
    local_db = tmp_path / "local.db"
    shutil.copy(_mlflow_template, local_db)
    local = evaluate([str(plan.submission)], tasks=[str(plan.task)], progress=False,
                     settings=plan.settings(f"sqlite:///{local_db}", num_threads=1))
    assert all(r.finished for r in local.records)
    ray_records = {r.key: r for r in store.records()}
    local_records = {r.key: r for r in local.records}
    assert ray_records.keys() == local_records.keys() and len(ray_records) == 4
    for key, r in ray_records.items():
        l = local_records[key]
        assert r.metrics == l.metrics, key
        assert r.per_item == l.per_item and r.chosen_epoch == l.chosen_epoch
        assert {c: v for c, v in r.curves.items() if not c.endswith("seconds")} == \
            {c: v for c, v in l.curves.items() if not c.endswith("seconds")}
        assert r.provenance["data_checksum"] == l.provenance["data_checksum"]


@pytest.mark.server
def test_ray_failures_stay_with_their_unit(tmp_path, monkeypatch):
    """A worker that dies and a task that raises each become one failed record; the others finish."""
    from bench.config import load_submission, load_task
    from bench.execution.executors import make_ray_executor
    from bench.execution.plan import PlannedUnit
    from bench.settings import load_settings
    from bench.tasks import Unit
    from tests.scaleout.procs import RAY_LOOPBACK_ENV
    from tests.scaleout.ray_units import crashing_unit

    for k, v in RAY_LOOPBACK_ENV.items():
        monkeypatch.setenv(k, v)
    task, sub = load_task("things-eeg2-retrieval-200-demo").spec, load_submission("demo").spec
    units = [PlannedUnit(Unit(task, sub, "sub-01", 1, seed), f"key{seed}", {}) for seed in range(4)]
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    try:
        run = make_ray_executor(None, num_cpus_per_unit=1, run_unit=crashing_unit,
                                init_kwargs={"num_cpus": 2, "_temp_dir": str(temp), "object_store_memory": 80 * 2**20})
        records = {r.key: r for r in run(units, load_settings(device="cpu"), False)}
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert sorted(records) == ["key0", "key1", "key2", "key3"]
    assert records["key0"].finished and records["key3"].finished
    assert records["key3"].metrics["num_threads"] == 1.0  # torch threads follow the unit's CPUs
    assert not records["key1"].finished and "Ray" in records["key1"].error and "died" in records["key1"].error
    assert not records["key2"].finished and "boom inside the Ray task" in records["key2"].error
    assert records["key2"].split == "sub-01" and records["key2"].seed == 2  # a real record of that unit


def test_ray_executor_explains_a_missing_ray(monkeypatch):
    import sys

    from bench.errors import ConfigError
    from bench.execution.executors import get_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install '\.\[ray\]'"):
        get_executor("ray", address="auto")


def test_ray_executor_rejects_bad_resources():
    from bench.errors import ConfigError
    from bench.execution.executors import make_ray_executor

    with pytest.raises(ConfigError, match="num_cpus_per_unit"):
        make_ray_executor(num_cpus_per_unit=0)
    with pytest.raises(ConfigError, match="num_gpus_per_unit"):
        make_ray_executor(num_gpus_per_unit=1.5)
    make_ray_executor(num_gpus_per_unit=0.25)  # fractional GPUs are fine


_JOIN = """
import sys
import ray
from bench.errors import BenchError
from bench.execution.executors import _connect
try:
    _connect(ray, sys.argv[1], {})
except BenchError as exc:
    print("REFUSED", exc)
    sys.exit(3)
print("JOINED", ray.cluster_resources().get("CPU"))
ray.shutdown()
"""


@pytest.mark.server
def test_joining_a_token_cluster_names_the_cause_and_works_with_the_token(tmp_path):
    """Ray >= 2.5x turns token auth on: a join without the token says so (not 'start a head node'),
    and RAY_AUTH_MODE=token + RAY_AUTH_TOKEN (what README 'Lab setup' documents) joins."""
    import secrets
    import sys

    token = secrets.token_hex(16)
    port, agent, dash, env_agent, metrics = _free_ports(5)
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    cmd = [str(VENV_BIN / "ray"), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
           "--num-cpus", "1", "--num-gpus", "0", "--include-dashboard=false", "--disable-usage-stats",
           "--temp-dir", str(temp), "--dashboard-agent-listen-port", str(agent), "--dashboard-port", str(dash),
           "--runtime-env-agent-port", str(env_agent), "--metrics-export-port", str(metrics),
           "--object-store-memory", str(100 * 1024 * 1024)]
    head = start(cmd, tmp_path / "ray-start.log", child_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token,
                                                             HOME=str(tmp_path)))
    try:
        assert head.wait(timeout=180) == 0, (tmp_path / "ray-start.log").read_text()[-3000:]
        address = f"127.0.0.1:{port}"
        refused = subprocess.run([sys.executable, "-c", _JOIN, address], capture_output=True, text=True, timeout=240,
                                 env=child_env(RAY_AUTH_MODE="disabled", HOME=str(tmp_path / "client")))
        assert refused.returncode == 3, refused.stdout + refused.stderr[-2000:]
        assert "InvalidAuthToken" in refused.stdout and "RAY_AUTH_TOKEN" in refused.stdout
        assert "ray start --head" not in refused.stdout
        joined = subprocess.run([sys.executable, "-c", _JOIN, address], capture_output=True, text=True, timeout=240,
                                env=child_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token,
                                              HOME=str(tmp_path / "client")))
        assert joined.returncode == 0 and "JOINED 1.0" in joined.stdout, joined.stdout + joined.stderr[-2000:]
    finally:
        stop_session(head.pid, timeout=5)
        shutil.rmtree(temp, ignore_errors=True)
