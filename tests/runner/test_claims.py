"""Unit claims with leases: atomic claim, takeover of expired claims, reaping dead runs, live tracking,
and two concurrent `bench evaluate` processes on one plan training every unit exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import yaml

from bench.records.claims import ClaimBook, Heartbeat
from bench.records.mlflow_store import RecordStore
from tests.tuning.tiny import ROOT, write_tiny_plan


def test_claim_is_exclusive_until_released_or_expired(tracking_uri):
    store = RecordStore(tracking_uri)
    a = ClaimBook(store.client, lease_s=1.0)
    b = ClaimBook(store.client, lease_s=1.0)
    first = a.try_claim("k1", "unit one")
    assert first is not None and first.generation == 1
    assert b.try_claim("k1") is None                      # live claim: skipped
    assert set(b.live()) == {"k1"} and b.live()["k1"].owner == a.owner
    time.sleep(1.2)                                       # no heartbeat for a whole lease
    taken = b.try_claim("k1")
    assert taken is not None and taken.generation == 2 and taken.token == b.token
    assert b.current("k1").token == b.token               # the expired generation was removed
    assert len(b._search("bench-claim.k1.%")) == 1
    b.release(taken)
    assert b.current("k1") is None
    again = a.try_claim("k1")
    assert again is not None


def test_a_dead_local_owner_frees_its_claim_at_once(tracking_uri):
    """kill -9 + rerun on the same machine: the dead process's claims and runs need not wait for the lease."""
    store = RecordStore(tracking_uri)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = gone.stdout.strip()
    dead = ClaimBook(store.client, lease_s=600)
    dead.owner = dead.owner.rsplit(":", 1)[0] + ":" + dead_pid
    assert dead.try_claim("k9") is not None
    assert ClaimBook(store.client, lease_s=600).try_claim("k9") is not None     # taken over although fresh
    run_id = store.start_unit(key="k9", task="t", submission="s", split="sub-01", subject=1, seed=0)
    store.client.set_tag(run_id, "bench.pid", dead_pid)
    assert RecordStore(tracking_uri).reap() == [run_id]
    assert "no longer exists" in store.client.get_run(run_id).data.tags["bench.killed_reason"]


def test_heartbeat_keeps_a_claim_live(tracking_uri):
    store = RecordStore(tracking_uri)
    holder = ClaimBook(store.client, lease_s=1.0)
    other = ClaimBook(store.client, lease_s=1.0)
    claim = holder.try_claim("k2")
    beat = Heartbeat(holder, interval=0.25).start()
    beat.add_claim(claim)
    try:
        time.sleep(1.6)
        assert other.try_claim("k2") is None              # refreshed: still live after > 1 lease
    finally:
        beat.stop()
    time.sleep(1.2)
    assert other.try_claim("k2") is not None              # heartbeat stopped: taken over


def test_racing_claims_have_one_winner(tracking_uri):
    store = RecordStore(tracking_uri)
    books = [ClaimBook(store.client, lease_s=60) for _ in range(4)]
    wins: list = []
    barrier = threading.Barrier(len(books))

    def grab(book):
        barrier.wait()
        wins.append(book.try_claim("race"))

    threads = [threading.Thread(target=grab, args=(b,)) for b in books]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(w is not None for w in wins) == 1


def test_dead_runs_are_reaped_with_the_reason(tracking_uri):
    dead = RecordStore(tracking_uri, lease_s=0.5)
    parent = dead.start_invocation("evaluate x")
    unit = dead.start_unit(key="k3", task="t", submission="s", split="sub-01", subject=1, seed=0,
                           parent_run_id=parent)
    alive = RecordStore(tracking_uri, lease_s=60)
    running = alive.start_invocation("evaluate y")     # fresh heartbeat, long lease: kept
    time.sleep(0.8)
    killed = RecordStore(tracking_uri).reap()
    assert set(killed) == {parent, unit}
    for run_id in (parent, unit):
        run = alive.client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert "no heartbeat since" in run.data.tags["bench.killed_reason"]
    assert alive.client.get_run(unit).data.tags["bench.status"] == "killed"
    assert alive.client.get_run(running).info.status == "RUNNING"
    assert "k3" not in alive.finished_keys()


def test_failed_runs_are_replaced_by_a_retry(tracking_uri):
    from tests.records.factory import make_records

    store = RecordStore(tracking_uri)
    rec = make_records({"a": 0.4}, subjects=(1,), seeds=(0,))[0]
    rec.status, rec.error = "failed", "boom"
    store.write(rec)
    store.write(rec)
    assert len(store._search(f"tags.`bench.key` = '{rec.key}'")) == 1   # the second failure replaced the first
    rec.status, rec.error = "finished", None
    store.write(rec)
    runs = store._search(f"tags.`bench.key` = '{rec.key}'")
    assert [r.info.status for r in runs] == ["FINISHED"]


def _bench(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_concurrent_evaluates_train_every_unit_once(tmp_path, tiny_cache, tracking_uri):
    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0, 1, 2, 3), epochs=1)
    env = {"BENCH_TRACKING_URI": tracking_uri, "BENCH_CACHE_DIR": str(tiny_cache), "BENCH_DEVICE": "cpu"}
    args = ["evaluate", str(plan.submission), "--task", str(plan.task), "--no-progress", "--jobs", "1"]
    procs = [_bench(args, env) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n\n".join(outs)
    store = RecordStore(tracking_uri)
    runs = store._search("tags.`bench.kind` = 'unit'")
    per_key = Counter(r.data.tags["bench.key"] for r in runs)
    assert len(per_key) == 4 and set(per_key.values()) == {1}, per_key      # every unit trained exactly once
    assert all(r.info.status == "FINISHED" for r in runs)
    ran = [int(line.split(" ran,")[0].rsplit(" ", 1)[1]) for out in outs for line in out.splitlines()
           if "units planned" in line]
    assert sum(ran) == 4, outs
    assert not store.claims.all()                                           # every claim released
    assert len(store.records(task="tiny-task")) == 4


def test_a_running_unit_has_its_run_and_live_curve_points(tmp_path, tiny_cache, tracking_uri):
    """Live tracking: while a unit trains, its MLflow run exists (RUNNING) and holds per-epoch points.

    The unit trains until killed (400 epochs, no early stopping): points after the first are written
    at most once a second, so a unit that early-stops within a second of its first epoch shows none live.
    """
    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0,), epochs=400)
    sub = yaml.safe_load(plan.submission.read_text())
    sub["recipe"]["early_stopping_patience"] = None
    plan.submission.write_text(yaml.safe_dump(sub, sort_keys=False))
    env = {"BENCH_TRACKING_URI": tracking_uri, "BENCH_CACHE_DIR": str(tiny_cache), "BENCH_DEVICE": "cpu"}
    proc = _bench(["evaluate", str(plan.submission), "--task", str(plan.task), "--no-progress"], env)
    store = RecordStore(tracking_uri)
    seen = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            running = store._search("tags.`bench.kind` = 'unit' and attributes.status = 'RUNNING'")
            if running:
                points = store.client.get_metric_history(running[0].info.run_id, "curve/val_loss")
                if len(points) >= 2:
                    seen = (running[0], points)
                    break
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(30)
    assert seen is not None, "no running unit with curve points was seen"
    run, points = seen
    assert run.data.tags["bench.status"] == "running" and run.data.tags["bench.key"]
    stamps = sorted(p.timestamp for p in points)
    assert stamps[-1] > stamps[0]                      # real per-epoch timestamps, not one write at the end
    assert sorted(p.step for p in points)[:2] == [1, 2]


@pytest.mark.slow
def test_jobs_two_equals_jobs_one(tmp_path, tiny_cache, _mlflow_template):
    """`--jobs 2` (two processes, one torch thread each) gives the same records as `--jobs 1` (in process)."""
    import shutil

    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0, 1), epochs=2)
    results = {}
    for jobs in ("1", "2"):
        db = tmp_path / f"jobs{jobs}.db"
        shutil.copy(_mlflow_template, db)
        env = {"BENCH_TRACKING_URI": f"sqlite:///{db}", "BENCH_CACHE_DIR": str(tiny_cache), "BENCH_DEVICE": "cpu"}
        proc = _bench(["evaluate", str(plan.submission), "--task", str(plan.task), "--no-progress", "--jobs", jobs],
                      env)
        out = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0 and "2 ran, 0 failed" in out, out
        results[jobs] = {r.key: r for r in RecordStore(f"sqlite:///{db}").records(task="tiny-task")}
    assert results["1"].keys() == results["2"].keys() and len(results["1"]) == 2
    for key, one in results["1"].items():
        two = results["2"][key]
        assert two.metrics.keys() == one.metrics.keys()
        for name, value in one.metrics.items():
            assert two.metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
        assert two.chosen_epoch == one.chosen_epoch


def test_dry_run_shows_claimed_units(tmp_path, tiny_cache, tracking_uri, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.execution import evaluate

    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0, 1), epochs=1)
    settings = plan.settings(tracking_uri)
    keys = [p.key for p in evaluate([str(plan.submission)], tasks=[str(plan.task)], settings=settings,
                                    progress=False, dry_run=True).planned]
    other = ClaimBook(RecordStore(tracking_uri).client, lease_s=600)
    other.owner = "another-machine:4242"
    assert other.try_claim(keys[1], "tiny · seed 1") is not None
    report = evaluate([str(plan.submission)], tasks=[str(plan.task)], settings=settings, progress=False, dry_run=True)
    assert set(report.claims) == {keys[1]}
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tiny_cache))
    result = CliRunner().invoke(app, ["evaluate", str(plan.submission), "--task", str(plan.task), "--dry-run",
                                      "--tracking-uri", tracking_uri, "--device", "cpu", "--no-progress"])
    assert f"{keys[1][:12]}" in result.output and "[claimed by another-machine:4242, heartbeat" in result.output, \
        result.output
