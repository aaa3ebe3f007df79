"""MLflow as the record store: one run per unit, a parent run per ``bench evaluate`` invocation.

Each unit run carries
  tags      bench.key, bench.task, bench.submission, bench.split, bench.subject, bench.seed,
            bench.status (finished|failed), bench.harness_version, mlflow.parentRunId
  params    the resolved task and submission specs, flattened (``task.dataset.name`` ...), and provenance
  metrics   final test metrics; per-epoch curves as stepped metrics (``curve/val_loss`` ...) and the
            ``chosen_epoch`` (selected on validation)
  artifacts record.json (the whole :class:`Record`, authoritative for statistics), task.yaml,
            submission.yaml, per_item.csv

No figures are drawn here: the MLflow UI charts the stepped ``curve/...`` metrics itself, and the
leaderboard pages draw every entry's learning curves from the records (drawn lazily, off the units'
critical path).

Works with a local SQLite file (the default), a PostgreSQL database (psycopg 3) or ``http(s)://`` of an
``mlflow server`` (the recommended lab setup: ``--artifacts-destination`` proxies the artifacts, so
every machine reads ``record.json``); other URIs are refused with the supported ones listed.

Life of a unit run: created RUNNING when the unit starts (:meth:`RecordStore.start_unit`; per-epoch
curves are logged into it as they happen by :class:`LiveLog`), a ``bench.heartbeat`` tag refreshed
while it runs, completed by :meth:`RecordStore.write` (``bench.status`` is set last, then the run is
terminated), so a unit counts as finished only when its whole record is stored. Runs whose heartbeat
stopped for a lease are marked KILLED by :meth:`RecordStore.reap` with the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from bench.errors import RecordError
from bench.records import uris
from bench.records.claims import DEFAULT_LEASE_S, ClaimBook, owner_dead
from bench.records.claims import _retrying as _retry
from bench.records.schema import Record

EXPERIMENT = "brainvis-bench"
_MAX_PARAM = 500


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        text = json.dumps(value) if not isinstance(value, str) else value
        out[prefix] = text[:_MAX_PARAM]


def _artifact_root(tracking_uri: str) -> str | None:
    """For a local SQLite store, keep artifacts beside the database (not in the working directory)."""
    db = uris.sqlite_path(tracking_uri)
    if db is not None:
        return (db.parent / f"{db.stem}-artifacts").resolve().as_uri()
    return None


class ArtifactLocationWarning(UserWarning):
    """The store's artifacts (``record.json``) live on one machine's disk: other machines cannot read them."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:400]
    return type(exc).__name__


def _fix_for(kind: str, cause: str) -> str:
    """The fix for a store that cannot be opened, from its kind and the driver's message."""
    low = cause.lower()
    if "psycopg" in low and ("no module" in low or "not installed" in low):
        return "install the PostgreSQL driver: pip install 'brainvis-bench[postgres]' (psycopg 3)"
    if "password authentication failed" in low or "authentication" in low:
        return "check the user and password in the URI (or ~/.pgpass / PGPASSWORD)"
    if "does not exist" in low and "database" in low:
        return "create the database first (`createdb -h HOST -U USER DATABASE`) or correct its name"
    if "connection refused" in low or "could not connect" in low or "timeout" in low or "timed out" in low:
        return "start the database server or correct HOST:PORT in the URI"
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return "the file is not an MLflow SQLite database (corrupt?): move it aside and re-run, or point at another file"
    if "migration" in low or "constraint" in low or "alembic" in low or "revision" in low:
        return ("the database schema is not what this MLflow expects: if another process is creating the store, "
                "wait and re-run; if it was made by a newer MLflow, upgrade; else `mlflow db upgrade URI`")
    if "readonly" in low or "read-only" in low or "permission" in low:
        return "make the store's file and folder writable, or point --tracking-uri elsewhere"
    if kind == "http":
        return "check that the MLflow server is up (`curl URI/health`) and the URI is right"
    return "check --tracking-uri (or BENCH_TRACKING_URI); supported: " + "; ".join(uris.SUPPORTED)


@contextlib.contextmanager
def store_errors(uri: str, action: str) -> Iterator[None]:
    """Turn whatever MLflow/SQLAlchemy/the driver raises into one :class:`RecordError` (URI redacted)."""
    try:
        yield
    except RecordError:
        raise
    except Exception as exc:  # mlflow raises many types for an unreachable, broken or foreign store
        cause = uris.scrub(_first_line(exc), uri)
        raise RecordError(f"cannot {action} the MLflow store '{uris.redact(uri)}': {cause}",
                          field="--tracking-uri", fix=_fix_for(uris.kind(uri), cause)) from None


def _prepare_sqlite(path: Path, uri: str, create: bool) -> None:
    """Check the database file and its folder; create and migrate a new store under a file lock."""
    shown = uris.redact(uri)
    if path.is_dir():
        raise RecordError(f"the MLflow store '{shown}' is a folder, not a database file", field="--tracking-uri",
                          fix=f"point at a file inside it, e.g. sqlite:///{path / 'mlflow.db'}")
    if not path.exists():
        if not create:
            raise RecordError(f"there is no MLflow store at '{shown}' (no file {path})", field="--tracking-uri",
                              fix="check the path (or BENCH_TRACKING_URI); `bench evaluate` creates a store, "
                                  "read-only commands never do")
        for parent in [path.parent, *path.parent.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise RecordError(f"cannot create the MLflow store '{shown}': {parent} is a file, not a folder",
                                      field="--tracking-uri", fix="choose a path whose parent folders are folders")
                break
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordError(f"cannot create the folder of the MLflow store '{shown}': {exc.strerror or exc}",
                              field="--tracking-uri", fix="choose a writable location") from None
    elif path.stat().st_size > 0:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise RecordError(f"'{shown}' is not an SQLite database (the file {path} holds something else)",
                                  field="--tracking-uri", fix=_fix_for("sqlite", "not a database"))
    if not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
        return
    from filelock import FileLock, Timeout
    from mlflow.tracking import MlflowClient

    try:
        # Concurrent first starts: one process creates and migrates the schema, the others wait for it.
        with FileLock(str(path) + ".lock", timeout=600):
            with store_errors(uri, "create" if create else "open"):
                client = MlflowClient(tracking_uri=uri, registry_uri=uri)
                client.search_experiments(max_results=1)
                client.search_registered_models(max_results=1)
    except Timeout:
        raise RecordError(f"timed out waiting for another process to create '{shown}'", field="--tracking-uri",
                          fix=f"if no other process is starting, delete {path}.lock") from None


def _probe_database(uri: str) -> None:
    """Connect once with a short timeout (MLflow itself retries for a minute before failing)."""
    import sqlalchemy

    with store_errors(uri, "reach"):
        connect_args = {"connect_timeout": 10} if uris.kind(uri) == "postgresql" else {}
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()


def _initialise_postgres(uri: str) -> None:
    """Create/migrate MLflow's schema under a PostgreSQL advisory lock (concurrent first starts are safe)."""
    import sqlalchemy
    from mlflow.tracking import MlflowClient

    with store_errors(uri, "create"):
        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 10},
                                          poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(724310947)"))  # any constant: "bench init"
                try:
                    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
                    client.search_experiments(max_results=1)
                    client.search_registered_models(max_results=1)
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(724310947)"))
        finally:
            engine.dispose()


@dataclass(frozen=True)
class PruneItem:
    """A run ``bench store prune`` deletes (or would delete)."""

    run_id: str
    reason: str
    label: str


class RecordStore:
    """Read and write unit records in an MLflow tracking store.

    tracking_uri: ``sqlite:///path.db``, ``postgresql://...`` or ``http(s)://host:port`` (normalised;
                  shown redacted everywhere as :attr:`display_uri`).
    create:       False for read-only commands: a store (or database file) that does not exist is
                  an error instead of being created.
    lease_s:      claim lease and heartbeat expiry of this process's runs (see :mod:`bench.records.claims`).
    """

    def __init__(self, tracking_uri: str, experiment: str = EXPERIMENT, *, create: bool = True,
                 lease_s: float = DEFAULT_LEASE_S) -> None:
        from mlflow.tracking import MlflowClient

        uri = uris.normalise(tracking_uri)
        self.tracking_uri = uri
        self.display_uri = uris.redact(uri)
        self.lease_s = float(lease_s)
        kind = uris.kind(uri)
        if kind == "http":
            _check_server(uri)
        elif kind == "sqlite":
            path = uris.sqlite_path(uri)
            if path is not None:
                _prepare_sqlite(path, uri, create)
        elif kind in ("postgresql", "mysql"):
            _probe_database(uri)
            if kind == "postgresql":
                _initialise_postgres(uri)
        with store_errors(uri, "open"):
            self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None and create:
                try:
                    self.client.create_experiment(experiment, artifact_location=_artifact_root(uri))
                except Exception as exc:  # another process created it at the same moment
                    if "ALREADY_EXISTS" not in str(getattr(exc, "error_code", "")) and \
                            "already exists" not in str(exc).lower():
                        raise
                exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id: str | None = exp.experiment_id if exp is not None else None
        self.artifact_location = exp.artifact_location if exp is not None else None
        if kind in ("postgresql", "mysql") and self.artifact_location and \
                self.artifact_location.startswith(("file:", "/")):
            warnings.warn(
                f"the store '{self.display_uri}' is a database other machines can reach, but its artifacts "
                f"(record.json, which results and pages read) are at {self.artifact_location}, on one machine's "
                "disk. Run an MLflow server with proxied artifacts on the database and use --tracking-uri "
                "http://HOST:PORT instead (README, 'Lab setup').", ArtifactLocationWarning, stacklevel=2)
        self.claims = ClaimBook(self.client, lease_s=self.lease_s)

    # ---- invocations -------------------------------------------------------------------------
    def _running_tags(self) -> dict[str, str]:
        import socket

        return {"bench.heartbeat": f"{time.time():.3f}", "bench.lease_s": f"{self.lease_s:g}",
                "bench.host": socket.gethostname(), "bench.pid": str(os.getpid())}

    def start_invocation(self, name: str, params: dict[str, str] | None = None) -> str:
        """Create the parent run that groups one ``bench evaluate`` invocation; returns its id."""
        run = _retry(self.client.create_run, self.experiment_id, run_name=name,
                     tags={"bench.kind": "invocation", **self._running_tags()})
        if params:
            self._log_params(run.info.run_id, params)
        return run.info.run_id

    def end_invocation(self, run_id: str, summary: dict[str, float], failed: bool = False,
                       status: str | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        _retry(self.client.log_batch, run_id, metrics=[Metric(k, float(v), now, 0) for k, v in summary.items()])
        _retry(self.client.set_terminated, run_id, status or ("FAILED" if failed else "FINISHED"))

    # ---- unit runs ---------------------------------------------------------------------------
    def start_unit(self, *, key: str, task: str, submission: str, split: str, subject: int, seed: int,
                   parent_run_id: str | None = None, claim_token: str | None = None) -> str:
        """Create the unit's run when it starts (RUNNING, ``bench.status = running``); returns its id."""
        tags = {"bench.kind": "unit", "bench.key": key, "bench.task": task, "bench.submission": submission,
                "bench.split": split, "bench.subject": str(subject), "bench.seed": str(seed),
                "bench.status": "running", **self._running_tags()}
        if claim_token:
            tags["bench.claim_token"] = claim_token
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = _retry(self.client.create_run, self.experiment_id, run_name=f"{submission}|{task}|{split}|seed{seed}",
                     tags=tags)
        return run.info.run_id

    def abandon_unit(self, run_id: str, reason: str) -> None:
        """Mark a started unit run KILLED (interrupted before its record was written)."""
        try:
            _retry(self.client.set_tag, run_id, "bench.status", "killed")
            _retry(self.client.set_tag, run_id, "bench.killed_reason", reason[:5000])
            _retry(self.client.set_terminated, run_id, "KILLED")
        except Exception as exc:
            warnings.warn(f"could not mark run {run_id} KILLED: {exc}", stacklevel=2)

    # ---- writing -----------------------------------------------------------------------------
    def write(self, record: Record, parent_run_id: str | None = None, run_id: str | None = None) -> str:
        """Store one unit record as one MLflow run; returns the run id.

        ``run_id``: the run :meth:`start_unit` created (live curves already in it); else a new run.
        The unit counts as finished only once everything is stored (``bench.status`` is tagged last).
        Earlier failed or killed runs of the same key are then deleted (a retry replaces them).
        """
        from mlflow.entities import Metric, RunTag

        tags = {
            "bench.kind": "unit", "bench.key": record.key, "bench.task": record.task,
            "bench.submission": record.submission, "bench.split": record.split,
            "bench.subject": str(record.subject), "bench.seed": str(record.seed),
            "bench.harness_version": record.provenance.get("harness_version", ""),
        }
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        if run_id is None:
            run = _retry(self.client.create_run, self.experiment_id, run_name=f"{record.submission}|{record.task}|"
                         f"{record.split}|seed{record.seed}", tags={**tags, "bench.status": "running"})
            run_id = run.info.run_id
        record.run_id = run_id
        try:
            _retry(self.client.log_batch, run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            params: dict[str, str] = {}
            _flatten("task", record.task_spec, params)
            _flatten("submission", record.submission_spec, params)
            _flatten("provenance", record.provenance, params)
            self._log_params(run_id, params)
            now = int(time.time() * 1000)
            metrics = [Metric(k.replace("@", "_at_"), float(v), now, 0) for k, v in record.metrics.items()
                       if v is not None]
            if record.chosen_epoch:   # beside the curve charts: the epoch validation chose
                metrics.append(Metric("chosen_epoch", float(record.chosen_epoch), now, 0))
            for name, series in record.curves.items():
                logged = {m.step for m in _retry(self.client.get_metric_history, run_id, f"curve/{name}")}
                metrics += [Metric(f"curve/{name}", float(v), now, step) for step, v in enumerate(series, 1)
                            if v is not None and step not in logged]
            for start in range(0, len(metrics), 900):
                _retry(self.client.log_batch, run_id, metrics=metrics[start:start + 900])
            self.client.log_dict(run_id, record.to_dict(), "record.json")
            if record.per_item:
                self.client.log_text(run_id, _per_item_csv(record.per_item), "per_item.csv")
            import yaml

            self.client.log_text(run_id, yaml.safe_dump(record.task_spec, sort_keys=False), "task.yaml")
            self.client.log_text(run_id, yaml.safe_dump(record.submission_spec, sort_keys=False),
                                 "submission.yaml")
            if record.error:
                _retry(self.client.set_tag, run_id, "bench.error", record.error[:5000])
            _retry(self.client.set_tag, run_id, "bench.status", record.status)
        except Exception:
            try:
                self.client.set_tag(run_id, "bench.status", "failed")
                self.client.set_terminated(run_id, "FAILED")
            except Exception:
                pass
            raise
        _retry(self.client.set_terminated, run_id, "FINISHED" if record.finished else "FAILED")
        self._replace_failed(record.key, keep=run_id)
        return run_id

    def _replace_failed(self, key: str, keep: str) -> None:
        """Delete the key's earlier failed/killed runs (a retry replaces them instead of piling up)."""
        try:
            for run in self._search(f"tags.`bench.kind` = 'unit' and tags.`bench.key` = '{key}'"):
                if run.info.run_id != keep and run.info.status in ("FAILED", "KILLED"):
                    self.client.delete_run(run.info.run_id)
        except Exception as exc:
            warnings.warn(f"could not delete the earlier failed runs of {key}: {exc}", stacklevel=2)

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 90):
            _retry(self.client.log_batch, run_id, params=items[start:start + 90])

    # ---- housekeeping ------------------------------------------------------------------------
    def reap(self, now: float | None = None) -> list[str]:
        """Mark RUNNING unit and invocation runs whose heartbeat expired KILLED (with the reason)."""
        if self.experiment_id is None:
            return []
        now = time.time() if now is None else now
        killed = []
        for run in self._search("attributes.status = 'RUNNING'"):
            tags = run.data.tags
            if tags.get("bench.kind") not in ("unit", "invocation"):
                continue
            beat = float(tags.get("bench.heartbeat", (run.info.start_time or 0) / 1000))
            lease = float(tags.get("bench.lease_s", DEFAULT_LEASE_S))
            gone = owner_dead(f"{tags.get('bench.host', '')}:{tags.get('bench.pid', '')}")
            if now - beat < lease and not gone:
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(beat))
            reason = (f"no heartbeat since {when} (lease {lease:g} s) from {tags.get('bench.host', '?')} pid "
                      f"{tags.get('bench.pid', '?')}"
                      + (" (that process no longer exists)" if gone else "")
                      + ": the process was killed or lost the store; marked KILLED by a later bench process")
            try:
                self.client.set_tag(run.info.run_id, "bench.killed_reason", reason)
                if tags.get("bench.kind") == "unit":
                    self.client.set_tag(run.info.run_id, "bench.status", "killed")
                self.client.set_terminated(run.info.run_id, "KILLED")
                killed.append(run.info.run_id)
            except Exception as exc:
                warnings.warn(f"could not mark run {run.info.run_id} KILLED: {exc}", stacklevel=2)
        return killed

    def prune_candidates(self, *, failed: bool = True, stale: bool = True) -> list[PruneItem]:
        """Unit runs that ``bench store prune`` removes.

        failed: runs that failed or were killed (not running ones).
        stale:  runs superseded for their (task, submission, split, seed): another key has a newer
                finished run (the config, data or weights changed), or the same key has a newer
                finished run (a duplicate).
        """
        if self.experiment_id is None:
            return []
        runs = [r for r in self._search("tags.`bench.kind` = 'unit'") if r.info.status != "RUNNING"]
        out: list[PruneItem] = []

        def label(run) -> str:
            t = run.data.tags
            return f"{t.get('bench.submission')} · {t.get('bench.task')} · {t.get('bench.split')} · seed {t.get('bench.seed')}"

        done = [r for r in runs if r.info.status == "FINISHED" and r.data.tags.get("bench.status") == "finished"]
        if failed:
            for r in runs:
                if r in done:
                    continue
                why = r.data.tags.get("bench.error") or r.data.tags.get("bench.killed_reason") or ""
                first = why.strip().splitlines()[0][:120] if why.strip() else ""
                out.append(PruneItem(r.info.run_id, r.info.status.lower() + (f": {first}" if first else ""), label(r)))
        if stale:
            groups: dict[tuple, list] = {}
            for r in done:
                t = r.data.tags
                groups.setdefault((t.get("bench.task"), t.get("bench.submission"), t.get("bench.split"),
                                   t.get("bench.seed")), []).append(r)
            for members in groups.values():
                members.sort(key=lambda r: r.info.start_time or 0, reverse=True)
                newest = members[0]
                for r in members[1:]:
                    same = r.data.tags.get("bench.key") == newest.data.tags.get("bench.key")
                    out.append(PruneItem(r.info.run_id, "duplicate of a newer finished run of the same key" if same
                                         else f"superseded by key {newest.data.tags.get('bench.key', '')[:12]}",
                                         label(r)))
        return out

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Delete runs (MLflow's soft delete; `mlflow gc` purges them for good)."""
        n = 0
        for run_id in run_ids:
            _retry(self.client.delete_run, run_id)
            n += 1
        return n

    # ---- reading -----------------------------------------------------------------------------
    def _search(self, filter_string: str) -> list:
        if self.experiment_id is None:
            return []
        runs, token = [], None
        with store_errors(self.tracking_uri, "read"):
            while True:
                page = self.client.search_runs([self.experiment_id], filter_string=filter_string,
                                               max_results=1000, page_token=token)
                runs.extend(page)
                token = page.token
                if not token:
                    return runs

    def finished_keys(self) -> set[str]:
        """Keys of units that have a finished record (what resume skips)."""
        runs = self._search("tags.`bench.kind` = 'unit' and tags.`bench.status` = 'finished' "
                            "and attributes.status = 'FINISHED'")
        return {r.data.tags["bench.key"] for r in runs}

    def is_finished(self, key: str) -> bool:
        """Whether ``key`` has a finished record now (re-checked just before a unit runs)."""
        return bool(self._search(f"tags.`bench.kind` = 'unit' and tags.`bench.key` = '{key}' and "
                                 "tags.`bench.status` = 'finished' and attributes.status = 'FINISHED'"))

    def records(self, *, task: str | None = None, submission: str | None = None,
                include_failed: bool = False) -> list[Record]:
        """Records stored for ``task`` / ``submission`` (one per key: the latest finished, else the latest failed)."""
        clauses = ["tags.`bench.kind` = 'unit'"]
        if task:
            clauses.append(f"tags.`bench.task` = '{task}'")
        if submission:
            clauses.append(f"tags.`bench.submission` = '{submission}'")
        if not include_failed:
            clauses += ["tags.`bench.status` = 'finished'", "attributes.status = 'FINISHED'"]
        runs = [r for r in self._search(" and ".join(clauses))
                if r.info.status in ("FINISHED", "FAILED") and r.data.tags.get("bench.status") != "running"]
        latest: dict[str, Any] = {}

        def rank(run) -> tuple:
            return (run.info.status == "FINISHED" and run.data.tags.get("bench.status") == "finished",
                    run.info.start_time or 0)

        for run in runs:
            key = run.data.tags.get("bench.key")
            if key not in latest or rank(run) > rank(latest[key]):
                latest[key] = run
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in latest.values():
                try:
                    path = self.client.download_artifacts(run.info.run_id, "record.json", tmp)
                    data = json.loads(Path(path).read_text())
                except Exception as exc:
                    raise RecordError(f"run {run.info.run_id} has no readable record.json: "
                                      f"{uris.scrub(_first_line(exc), self.tracking_uri)}",
                                      where=self.display_uri,
                                      fix="re-run that unit (delete the run) or check the artifact store") from None
                record = Record.from_dict(data)
                record.run_id = run.info.run_id
                out.append(record)
        return sorted(out, key=lambda r: (r.task, r.submission, r.split, r.seed))


class LiveLog:
    """``on_epoch`` callback that logs a running unit's per-epoch metrics into its MLflow run as they happen.

    Metric names are ``curve/<name>`` with step = epoch and the epoch's own wall-clock timestamp. The
    first epoch is written at once, later ones at most every ``min_interval_s`` seconds (one
    database transaction per batch: a write per short epoch cost ~0.2 s per demo unit); what is
    still buffered when the unit ends reaches the run with its record (:meth:`RecordStore.write`
    adds the steps that are missing) or, for a unit that failed, by :meth:`flush`. A failure to log
    is warned about once and never fails the unit.
    """

    def __init__(self, tracking_uri: str, run_id: str, min_interval_s: float = 1.0) -> None:
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.min_interval_s = min_interval_s
        self._client = None
        self._failed = False
        self._pending: list = []
        self._last: float | None = None

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        import math

        from mlflow.entities import Metric

        if self._failed:
            return
        now = int(time.time() * 1000)
        self._pending += [Metric(f"curve/{k}", float(v), now, int(epoch)) for k, v in metrics.items()
                          if isinstance(v, (int, float)) and math.isfinite(float(v))]
        if self._last is None or time.monotonic() - self._last >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the buffered points now."""
        if self._failed or not self._pending:
            return
        try:
            if self._client is None:
                from mlflow.tracking import MlflowClient

                db = uris.sqlite_path(self.tracking_uri)
                if db is not None and not db.is_file():  # e.g. a Ray worker on another machine: never create one
                    raise RecordError(f"the store file {db} is not on this machine", fix="use a server URI")
                self._client = MlflowClient(tracking_uri=self.tracking_uri)
            batch, self._pending = self._pending, []
            _retry(self._client.log_batch, self.run_id, metrics=batch)
            self._last = time.monotonic()
        except Exception as exc:
            self._failed = True
            warnings.warn(f"live logging to run {self.run_id} stopped: {uris.scrub(str(exc), self.tracking_uri)}",
                          stacklevel=2)


def _check_server(uri: str, timeout: float = 10.0) -> None:
    """Fail fast (instead of MLflow's minutes of retries) when a tracking server does not answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:
            if resp.status == 200:
                return
    except (urllib.error.URLError, OSError) as exc:
        raise RecordError(f"the MLflow tracking server at '{uris.redact(uri)}' does not answer "
                          f"({uris.scrub(str(exc), uri)})", field="--tracking-uri",
                          fix="start it (`mlflow server --host 127.0.0.1 --port N ...`) or correct --tracking-uri"
                          ) from None
    raise RecordError(f"the MLflow tracking server at '{uris.redact(uri)}' is not healthy", field="--tracking-uri",
                      fix="check the server's log")


def _per_item_csv(per_item: dict[str, list]) -> str:
    import pandas as pd

    buf = io.StringIO()
    pd.DataFrame(per_item).to_csv(buf, index=False)
    return buf.getvalue()
