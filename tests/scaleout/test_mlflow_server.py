"""A real `mlflow server` on 127.0.0.1: evaluate against it, resume, read records back over HTTP,
export them and build the leaderboard from it -- the same as with a local SQLite store."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.scaleout.procs import session_pids
from tests.tuning.tiny import write_tiny_plan


@pytest.fixture
def mlflow_server(tmp_path, _mlflow_template):
    """`mlflow server` with a SQLite backend and proxied local artifacts; stopped (by PID) afterwards."""
    from bench.tracking_server import start_mlflow_server

    db = tmp_path / "server.db"
    shutil.copy(_mlflow_template, db)  # skip the schema migrations
    server = start_mlflow_server(f"sqlite:///{db}", tmp_path / "server-artifacts")
    try:
        yield server
    finally:
        server.stop()
        assert server.process.poll() is not None and session_pids(server.pid) == []


@pytest.mark.server
def test_evaluate_resume_records_and_leaderboard_over_http(tmp_path, tiny_cache, mlflow_server, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.records.mlflow_store import RecordStore

    uri = mlflow_server.uri
    assert uri.startswith("http://127.0.0.1:")
    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0, 1), epochs=1)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tiny_cache))
    runner = CliRunner()

    def bench(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result.output

    evaluate = ["evaluate", str(plan.submission), "--task", str(plan.task), "--tracking-uri", uri,
                "--device", "cpu", "--no-progress"]
    assert "1 units planned: 0 already finished (skipped), 1 ran, 0 failed" in bench(*evaluate, "--seeds", "0")
    assert "2 units planned: 1 already finished (skipped), 1 ran, 0 failed" in bench(*evaluate)
    assert "2 units planned: 2 already finished (skipped), 0 ran, 0 failed" in bench(*evaluate)

    # records come back over HTTP, artifacts through the server's proxy
    store = RecordStore(uri)
    records = store.records(task="tiny-task")
    assert [(r.split, r.seed, r.status) for r in records] == [("sub-01", 0, "finished"), ("sub-01", 1, "finished")]
    assert all(r.per_item["rank"] and "top1" in r.metrics and r.run_id for r in records)
    run = store.client.get_run(records[0].run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert list((tmp_path / "server-artifacts").rglob("record.json"))
    assert len(store.finished_keys()) == 2

    # results, snapshot export and the leaderboard, all from the server
    table = json.loads(bench("results", "--tracking-uri", uri, "--task", "tiny-task", "--format", "json"))
    assert [(row["submission"], row["n_units"]) for row in table] == [("tiny", 2)]
    snap = tmp_path / "snapshot.json"
    bench("results", "--export", str(snap), "--tracking-uri", uri, "--task", "tiny-task")
    assert snap.is_file() and "tiny-task" in snap.read_text()
    site = tmp_path / "site"
    out = bench("leaderboard", "build", "--out", str(site), "--tracking-uri", uri, "--bootstrap", "200")
    assert "from 2 records" in out
    assert (site / "index.html").is_file() and "tiny-task" in (site / "index.html").read_text()


def test_start_mlflow_server_reports_a_dead_server(tmp_path):
    from bench.errors import RecordError
    from bench.tracking_server import start_mlflow_server

    with pytest.raises(RecordError, match="mlflow server exited|did not answer"):
        start_mlflow_server("nosuchdialect://x", tmp_path / "artifacts", timeout=60)
