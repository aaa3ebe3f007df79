"""A private PostgreSQL cluster on 127.0.0.1 for tests and ci/bench_concurrency.py (no system service).

Debian keeps ``initdb``/``pg_ctl`` under ``/usr/lib/postgresql/<v>/bin`` (ci/install-system.sh installs
them); initdb refuses root, so as root the cluster runs as the ``postgres`` user. Password
authentication over TCP (scram-sha-256), so URLs carry a real password (redaction is tested for real).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_USER, PG_PASSWORD = "bench", "pg-s3cret-pw"


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@dataclass
class Postgres:
    """A running private cluster: ``url(db)`` gives a password-carrying URL, ``create_db`` a fresh database."""

    port: int
    base: Path
    as_user: list[str] = field(default_factory=list)

    def url(self, database: str, scheme: str = "postgresql") -> str:
        return f"{scheme}://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.as_user, pg_bin("pg_ctl"), "-D", str(self.base / "data"), "stop", "-m", "fast", "-w"],
                       capture_output=True, timeout=120)
        shutil.rmtree(self.base, ignore_errors=True)


def available() -> bool:
    return bool(pg_bin("initdb") and pg_bin("pg_ctl"))


def start_postgres() -> Postgres:
    """initdb + pg_ctl start on a free loopback port (fsync off: test data only)."""
    from bench.tracking_server import free_port

    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = base / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres", "postgres")
    data, port = base / "data", free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)

    run(initdb, "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
        "--auth-local=trust", "-E", "UTF8")
    run(pg_ctl, "-D", str(data), "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c max_connections=200", "-l", str(base / "log"), "-w", "start")
    return Postgres(port, base, as_user)
