"""Every failure to open, create or reach a store is one clean message (redacted URI, cause, fix);
read-only commands never create a store; concurrent first start on a new sqlite file is safe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.errors import RecordError
from bench.records import uris
from bench.records.mlflow_store import RecordStore
from tests.tuning.tiny import ROOT


def test_uri_normalisation_gives_one_identity_per_database(tmp_path, monkeypatch):
    a = uris.identity("postgresql://alice:secret@DB.lab/bench")
    b = uris.identity("postgres://bob@db.lab:5432/bench")
    c = uris.identity("postgresql+psycopg://alice:other@db.lab:5432/bench")
    assert a == b == c == "postgresql://db.lab:5432/bench"
    assert uris.identity("postgresql://db.lab/other") != a
    assert uris.normalise("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h:5432/db"
    monkeypatch.chdir(tmp_path)
    assert uris.identity("sqlite:///x/../m.db") == uris.identity(f"sqlite:///{tmp_path}/m.db")
    assert uris.identity("http://Host:5000/") == "http://host:5000"


def test_passwords_are_redacted_everywhere():
    assert uris.redact("postgresql://u:s3cr3t@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert "s3cr3t" not in uris.redact("error connecting to postgresql+psycopg://u:s3cr3t@h/db now")
    assert uris.redact("postgresql://h/db?password=s3cr3t&x=1") == "postgresql://h/db?password=***&x=1"
    assert uris.scrub('FATAL: password "s3cr3t" rejected', "postgresql://u:s3cr3t@h/db") == \
        'FATAL: password "***" rejected'


@pytest.mark.parametrize("uri", ["file:///tmp/mlruns", "/tmp/mlruns", "mlruns", "ftp://host/x"])
def test_unsupported_schemes_are_refused_with_the_supported_ones_listed(uri):
    with pytest.raises(RecordError) as err:
        RecordStore(uri)
    text = str(err.value)
    assert "sqlite:///" in text and "postgresql://" in text and "http(s)://" in text
    assert "--tracking-uri" in text


def test_parent_path_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RecordError, match="is a file, not a folder"):
        RecordStore(f"sqlite:///{tmp_path / 'afile' / 'sub' / 'mlflow.db'}")


def test_uncreatable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that can write anywhere (root)")
        with pytest.raises(RecordError, match="cannot create the folder"):
            RecordStore(f"sqlite:///{locked / 'new' / 'mlflow.db'}")
    finally:
        locked.chmod(0o700)


def test_uncreatable_folder_under_proc():
    with pytest.raises(RecordError, match="cannot create the folder|is a file"):
        RecordStore("sqlite:////proc/self/status/new/mlflow.db")


def test_corrupt_database_file(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_text("this is not sqlite\n" * 10)
    with pytest.raises(RecordError) as err:
        RecordStore(f"sqlite:///{db}")
    assert "not an SQLite database" in str(err.value) and "move it aside" in str(err.value)


def test_a_folder_as_the_database(tmp_path):
    with pytest.raises(RecordError, match="is a folder"):
        RecordStore(f"sqlite:///{tmp_path}")


def test_read_only_open_of_a_missing_store_creates_nothing(tmp_path):
    db = tmp_path / "typo" / "mlflow.db"
    with pytest.raises(RecordError, match="there is no MLflow store"):
        RecordStore(f"sqlite:///{db}", create=False)
    assert not db.exists() and not db.parent.exists()


def test_unreachable_postgres_is_one_redacted_message():
    pytest.importorskip("psycopg")
    from tests.tuning.tiny import ROOT as _  # noqa: F401

    from bench.tracking_server import free_port

    uri = f"postgresql://alice:hunter2@127.0.0.1:{free_port()}/bench"
    with pytest.raises(RecordError) as err:
        RecordStore(uri)
    text = str(err.value)
    assert "hunter2" not in text and "alice:***@127.0.0.1" in text
    assert "start the database server" in text


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_read_only_commands_fail_on_a_missing_store(tmp_path):
    db = tmp_path / "nowhere" / "mlflow.db"
    env = {"BENCH_TRACKING_URI": f"sqlite:///{db}"}
    demo, atm = str(ROOT / "submissions" / "demo.yaml"), str(ROOT / "submissions" / "demo_atm.yaml")
    for args in (("results",), ("compare", demo, atm, "--task", "things-eeg2-retrieval-200-demo"),
                 ("leaderboard", "build", "--out", str(tmp_path / "site"))):
        proc = _cli(*args, env=env)
        assert proc.returncode != 0, (args, proc.stdout)
        assert "there is no MLflow store" in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert not db.exists() and not db.parent.exists()


_OPEN = """
import sys
from bench.records.mlflow_store import RecordStore
store = RecordStore(sys.argv[1])
print("ok", store.experiment_id)
"""


@pytest.mark.integration
def test_concurrent_first_start_on_a_new_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, uri], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = {out.split()[1] for out, _ in outs}
    assert len(ids) == 1  # one experiment, created once
