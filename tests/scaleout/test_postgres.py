"""PostgreSQL as a first-class backend, against a real private server on loopback (fixture `postgres`):

- the recommended lab setup: `mlflow server` on a PostgreSQL backend with proxied artifacts; evaluate,
  resume, results, compare and leaderboard build through it; records readable from anywhere;
- Optuna studies in PostgreSQL: `bench tune` twice with two spellings of one URL continues one study
  under one MLflow parent run; the password is never printed;
- a direct postgresql:// MLflow store works (claims included) and warns that artifacts are local.
"""

from __future__ import annotations

import json
import warnings

import pytest
import yaml

from tests.tuning.tiny import write_tiny_plan

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def pg_mlflow_server(postgres, tmp_path_factory):
    """`mlflow server` with a PostgreSQL backend store and proxied artifacts; stopped (by PID) afterwards."""
    from bench.tracking_server import start_mlflow_server

    backend = postgres.create_db("mlflow_server")
    artifacts = tmp_path_factory.mktemp("pg-server") / "artifacts"
    server = start_mlflow_server(backend, artifacts, timeout=180)
    try:
        yield server
    finally:
        server.stop()


def _cli():
    from typer.testing import CliRunner

    from bench.cli import app

    runner = CliRunner()

    def bench(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result.output

    return bench


def test_lab_setup_server_on_postgres_evaluate_resume_results_compare_leaderboard(
        tmp_path, tiny_cache, pg_mlflow_server, postgres, monkeypatch):
    from bench.records.mlflow_store import RecordStore
    from tests.scaleout.pg import PG_PASSWORD

    uri = pg_mlflow_server.uri
    a = write_tiny_plan(tmp_path / "a", tiny_cache, seeds=(0, 1), epochs=1, name="pga")
    b = write_tiny_plan(tmp_path / "b", tiny_cache, seeds=(0, 1), epochs=1, name="pgb")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tiny_cache))
    bench = _cli()
    common = ["--task", str(a.task), "--tracking-uri", uri, "--device", "cpu", "--no-progress", "--jobs", "1"]
    outputs = [bench("evaluate", str(a.submission), *common, "--seeds", "0")]
    assert "1 units planned: 0 already finished (skipped), 1 ran, 0 failed" in outputs[-1]
    outputs.append(bench("evaluate", str(a.submission), *common))                      # resume
    assert "2 units planned: 1 already finished (skipped), 1 ran, 0 failed" in outputs[-1]
    outputs.append(bench("evaluate", str(b.submission), *common))
    assert "2 ran, 0 failed" in outputs[-1]

    store = RecordStore(uri)
    records = store.records(task="pga-task")
    assert len(records) == 4 and all(r.finished for r in records)
    run = store.client.get_run(records[0].run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")                    # proxied: readable anywhere
    assert list(pg_mlflow_server.artifact_root.rglob("record.json"))
    assert not store.claims.all()

    table = json.loads(bench("results", "--tracking-uri", uri, "--task", "pga-task", "--format", "json"))
    assert sorted((row["submission"], row["n_units"]) for row in table) == [("pga", 2), ("pgb", 2)]
    (cmp,) = json.loads(bench("compare", str(a.submission), str(b.submission), "--task", "pga-task",
                              "--tracking-uri", uri, "--format", "json", "--bootstrap", "200"))
    assert cmp["n_units"] == 2
    site = tmp_path / "site"
    outputs.append(bench("leaderboard", "build", "--out", str(site), "--tracking-uri", uri, "--bootstrap", "200"))
    assert "from 4 records" in outputs[-1] and "pga-task" in (site / "index.html").read_text()
    assert all(PG_PASSWORD not in out for out in outputs)


SPACE = {"description": "two learning rates", "metric": "val_top1", "pruner": {"name": "none"},
         "sampler": {"name": "random"},
         "params": {"recipe.optimizer.lr": {"type": "categorical", "choices": [1.0e-3, 3.0e-4]}}}


def test_tune_on_postgres_storage_two_spellings_one_study(tmp_path, tiny_cache, pg_mlflow_server, postgres,
                                                          monkeypatch):
    import optuna

    from bench.tuning.study import open_storage
    from tests.scaleout.pg import PG_PASSWORD

    url = postgres.create_db("optuna_tune")
    other_spelling = url.replace("postgresql://", "postgres://").replace("127.0.0.1", "LOCALHOST".lower())
    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0,), epochs=1, name="pgt")
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tiny_cache))
    bench = _cli()
    outs = []
    for storage, expected in ((url, 1), (other_spelling.replace("localhost", "127.0.0.1"), 2)):
        outs.append(bench("tune", str(plan.submission), "--task", str(plan.task), "--space", str(space),
                          "--trials", "1", "--storage", storage, "--study-name", "pg-study",
                          "--out", str(tmp_path / "best.yaml"), "--tracking-uri", pg_mlflow_server.uri,
                          "--device", "cpu", "--threads", "1"))
        assert f"{expected} trials (1 new)" in outs[-1], outs[-1]
        assert "this invocation: 1 trials: 1 complete" in outs[-1]
    assert all(PG_PASSWORD not in out for out in outs)
    study = optuna.load_study(study_name="pg-study", storage=open_storage(url))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert study.trials[0].user_attrs["sampler_seed"] != study.trials[1].user_attrs["sampler_seed"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(pg_mlflow_server.uri)
    exp = client.get_experiment_by_name("brainvis-bench-tuning")
    parents = client.search_runs([exp.experiment_id], "tags.`bench.kind` = 'study' and tags.`bench.study` = 'pg-study'")
    assert len(parents) == 1                                               # one identity, one parent run
    assert PG_PASSWORD not in json.dumps({**parents[0].data.tags, **parents[0].data.params})


def test_direct_postgres_store_works_and_warns_about_local_artifacts(postgres, tmp_path, monkeypatch):
    from bench.records.claims import ClaimBook
    from bench.records.mlflow_store import ArtifactLocationWarning, RecordStore
    from tests.records.factory import make_records

    monkeypatch.chdir(tmp_path)
    url = postgres.create_db("mlflow_direct")
    with pytest.warns(ArtifactLocationWarning, match="one machine's disk"):
        store = RecordStore(url)
    assert "pg-s3cret-pw" not in store.display_uri and store.display_uri.endswith(f":{postgres.port}/mlflow_direct")
    rec = make_records({"a": 0.4}, subjects=(1,), seeds=(0,))[0]
    store.write(rec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArtifactLocationWarning)
        again = RecordStore(url.replace("postgresql://", "postgres://"))  # another spelling, same store
    assert again.finished_keys() == {rec.key}
    a, b = ClaimBook(store.client, 60), ClaimBook(again.client, 60)
    assert a.try_claim("pgkey") is not None and b.try_claim("pgkey") is None


_FIRST_START = """
import sys
from bench.records.mlflow_store import RecordStore
from bench.tuning.study import open_storage
import warnings
warnings.simplefilter("ignore")
store = RecordStore(sys.argv[1])
open_storage(sys.argv[2])
print("ok", store.experiment_id)
"""


def test_concurrent_first_start_on_new_postgres_databases(postgres):
    """Three processes open a new MLflow store and a new Optuna storage at once: no migration race."""
    import subprocess
    import sys

    from tests.tuning.tiny import ROOT

    mlflow_url, optuna_url = postgres.create_db("race_mlflow"), postgres.create_db("race_optuna")
    procs = [subprocess.Popen([sys.executable, "-c", _FIRST_START, mlflow_url, optuna_url], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    assert len({out.split()[1] for out, _ in outs}) == 1
