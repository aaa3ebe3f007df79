from __future__ import annotations

import pytest

from tests.tuning.tiny import shared_cache


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return shared_cache(tmp_path_factory)


# ---- a private PostgreSQL cluster on loopback (Debian's server binaries; ci/install-system.sh) -----

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_USER, PG_PASSWORD = "bench", "pg-s3cret-pw"


@dataclass
class Postgres:
    """A running private cluster: ``url(db)`` gives a password-carrying URL, ``create_db`` a fresh database."""

    port: int
    base: Path

    def url(self, database: str, scheme: str = "postgresql") -> str:
        return f"{scheme}://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([shutil.which(name)] if shutil.which(name) else [])
    return found[-1] if found else None


@pytest.fixture(scope="session")
def postgres():
    """Start a private PostgreSQL cluster on 127.0.0.1 (password auth over TCP); stop it afterwards."""
    pytest.importorskip("psycopg")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not installed (run ci/install-system.sh)")
    from bench.tracking_server import free_port

    base = Path(tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = base / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres", "postgres")
    data, port = base / "data", free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)
    run(initdb, "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
        "--auth-local=trust", "-E", "UTF8")
    run(pg_ctl, "-D", str(data), "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
        "-l", str(base / "log"), "-w", "start")
    try:
        yield Postgres(port, base)
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "stop", "-m", "fast", "-w"], capture_output=True,
                       timeout=120)
        shutil.rmtree(base, ignore_errors=True)
