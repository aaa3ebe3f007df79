"""Processes the scale-out tests start, and how they stop them: by the IDs of what they started only.

Every server/driver is started in a new session (``start_new_session=True``), so it and everything it
forks (Ray's GCS, raylet, workers; MLflow's workers) share that session id. ``stop_session`` signals
exactly those PIDs -- never processes found by name (``ray stop`` would stop every Ray on the machine).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

#: Ray on loopback only (docs: ENVIRONMENT.md, "Ray 2.60").
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
                    "RAY_USAGE_STATS_ENABLED": "0"}


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment (the tests' isolated BENCH_* settings) + the repo on PYTHONPATH + ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(RAY_LOOPBACK_ENV)
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def session_pids(sid: int) -> list[int]:
    """PIDs of the live processes whose session id is ``sid`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            pids.append(int(entry.name))
    return pids


def stop_session(sid: int, timeout: float = 10.0) -> None:
    """SIGTERM every process of session ``sid``, then SIGKILL what is left after ``timeout`` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        pids = session_pids(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and session_pids(sid):
            time.sleep(0.2)


def start(cmd: list[str], log: Path, env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen:
    """Start ``cmd`` in a new session, output to ``log``."""
    fh = open(log, "ab")
    try:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    finally:
        fh.close()
