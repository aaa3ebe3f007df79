"""Start and stop a local ``mlflow server`` (for tests, docs and single-machine setups).

The record store works with any tracking URI; a shared server lets several machines (or a Ray
cluster) write to one store and everybody read the same leaderboard::

    mlflow server --backend-store-uri sqlite:///mlflow-server.db \\
                  --artifacts-destination ./mlflow-artifacts --host 127.0.0.1 --port 5000 --workers 1
    bench evaluate submissions/demo.yaml --tracking-uri http://127.0.0.1:5000

From Python (the server is its own process group; ``stop`` ends it by PID, SIGTERM then SIGKILL)::

    with start_mlflow_server("sqlite:////tmp/mlflow.db", "/tmp/artifacts", port=free_port()) as server:
        evaluate([...], settings=settings.with_(tracking_uri=server.uri))

``proxy_artifacts=True`` (default) serves artifacts through the server (``--artifacts-destination``),
so clients on other machines need no access to the artifact folder; ``False`` gives the server a
``--default-artifact-root`` that clients write to directly (fine on one machine or a shared disk).
A PostgreSQL backend is just another ``backend_uri`` (``postgresql://user:pw@host/db``; psycopg 3, the
``postgres`` extra): that pairing -- PostgreSQL behind a server with proxied artifacts -- is the
recommended lab setup (README, "Lab setup"). Messages and logs show the backend URI redacted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import RecordError
from bench.records import uris


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def healthy(uri: str, timeout: float = 2.0) -> bool:
    """Whether ``uri``/health answers 200."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class MlflowServer:
    """A running ``mlflow server`` process (group) started by :func:`start_mlflow_server`."""

    process: subprocess.Popen
    uri: str
    backend_uri: str
    artifact_root: Path
    log_path: Path
    _log: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group (its PID), then SIGKILL what is left after ``timeout``."""
        _stop_group(self.process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "MlflowServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _stop_group(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Workers of the group may outlive the leader: make sure none is left.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
        pass


def start_mlflow_server(backend_uri: str, artifact_root: str | Path, port: int | None = None, *,
                        host: str = "127.0.0.1", proxy_artifacts: bool = True, workers: int = 1,
                        timeout: float = 90.0, log_path: str | Path | None = None,
                        job_execution: bool = False) -> MlflowServer:
    """Start ``mlflow server`` on ``host:port`` and wait until ``/health`` answers.

    backend_uri:   ``sqlite:///abs/path.db`` or ``postgresql://...``.
    artifact_root: local folder for artifacts (created).
    port:          default: a free port.
    job_execution: MLflow 3's background job runner (GenAI evaluation jobs; ~8 extra processes). The
                   record store does not use it, so it is off unless asked for.
    Raises :class:`RecordError` (with the server's log tail) when it does not come up in ``timeout`` s.
    """
    port = port or free_port(host)
    artifact_root = Path(artifact_root).resolve()
    artifact_root.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else artifact_root.parent / f"mlflow-server-{port}.log"
    if uris.kind(backend_uri) == "postgresql":
        backend_uri = uris.normalise(backend_uri, what="backend store", field="backend_uri")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
           "--host", host, "--port", str(port), "--workers", str(workers)]
    if proxy_artifacts:
        cmd += ["--serve-artifacts", "--artifacts-destination", str(artifact_root)]
    else:
        cmd += ["--no-serve-artifacts", "--default-artifact-root", str(artifact_root)]
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if job_execution else "false"}
    log = open(log_path, "ab")
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = MlflowServer(process, f"http://{host}:{port}", backend_uri, artifact_root, log_path, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RecordError(f"mlflow server exited with code {process.returncode}:\n"
                              f"{uris.scrub(server.log_tail(), backend_uri)}",
                              where=log_path, fix="check the backend URI and that the port is free")
        if healthy(server.uri):
            return server
        time.sleep(0.5)
    server.stop()
    raise RecordError(f"mlflow server did not answer {server.uri}/health within {timeout:.0f} s:\n"
                      f"{uris.scrub(server.log_tail(), backend_uri)}", where=log_path, fix="see the log; raise the timeout on a slow machine")


__all__ = ["MlflowServer", "free_port", "healthy", "start_mlflow_server"]
