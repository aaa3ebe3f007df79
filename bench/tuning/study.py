"""Hyperparameter search with Optuna: one study per (submission, task), validation metric only.

    space YAML + submission + task -> study (RDB or journal storage) -> N trials, each one
    ``TaskKind.run(..., validation_only=True, on_epoch=report-and-prune)`` on one declared subject
    and seed -> best trial -> ``submissions/tuned/<name>_tuned.yaml`` (``extends:`` the original)

- **The test split is never read.** A trial trains with the task's validation rule and returns the
  validation metric of the checkpoint chosen on validation (``val_loss`` minimised or ``val_top1``
  maximised: the task's ``selection.metric`` unless the space says otherwise).
- **Pruning:** after every epoch the trial reports that epoch's validation metric; the space's
  pruner (median / percentile / none) may stop it.
- **Seeds:** every trial trains the same unit -- one subject (default: the task's first) and one
  seed (default: the task's first) -- so trials differ only in their hyperparameters. The sampler
  is seeded too (``--seed``; each worker and each resumed invocation gets a distinct derived seed).
  All three are stored on every trial (``trial.user_attrs``) and in MLflow.
- **Storage:** any SQLAlchemy URL (``sqlite:///optuna.db``, ``postgresql://...``) through
  ``optuna.storages.RDBStorage``, or ``journal:PATH`` for Optuna's journal file. Studies are created
  with ``load_if_exists``: running the same command again adds trials to the same study. A resumed
  study must use the same submission, task, space, subject, seed and metric (checked).
- **Concurrency:** ``n_jobs`` worker *processes* (the pool of ``bench evaluate --jobs``; torch
  threads split between them) run ``study.optimize`` on the same storage; several ``bench tune``
  commands on one storage also work.
- **MLflow:** one parent run per study (experiment ``brainvis-bench-tuning``, tag ``bench.study``;
  a resumed study reuses it), one child run per trial (params, per-epoch validation metrics, the
  trial's state), and on the parent: Optuna's plots, the trials table and the best-trial YAML.

>>> result = tune("submissions/atm_dreamsim.yaml", "things-eeg2-retrieval-200",
...               "submissions/spaces/atm.yaml", trials=50, storage="sqlite:///optuna.db",
...               settings=load_settings())
>>> result.out_path      # submissions/tuned/atm_dreamsim_tuned.yaml, ready for `bench evaluate`
"""

from __future__ import annotations

import math
import os
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.config.schema import SubmissionSpec, TaskSpec
from bench.errors import BenchError, ConfigError
from bench.settings import Settings
from bench.tuning.space import PrunerSpec, SearchSpace, load_space

TUNING_EXPERIMENT = "brainvis-bench-tuning"
DIRECTIONS = {"val_loss": "minimize", "val_top1": "maximize"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ATTR_KEYS = ("submission", "task", "submission_hash", "task_hash", "space", "subject", "unit_seed", "metric")


# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------

def default_storage() -> str:
    """``sqlite:///<cwd>/optuna.db`` (absolute, so every worker process opens the same file)."""
    return f"sqlite:///{Path.cwd() / 'optuna.db'}"


#: Heartbeat of a running trial (seconds) and how long a silent trial may stay RUNNING before it is
#: failed and re-queued (RetryFailedTrialCallback); overridable for tests via the environment.
HEARTBEAT_INTERVAL = float(os.environ.get("BENCH_OPTUNA_HEARTBEAT_S", 30))
GRACE_PERIOD = float(os.environ.get("BENCH_OPTUNA_GRACE_S", 120))
MAX_RETRY = 2


def normalise_storage(url: str) -> str:
    """One spelling per storage: sqlite paths absolute, postgresql:// on psycopg 3 with the port written out."""
    from bench.records import uris

    kind = uris.kind(url)
    if kind in ("sqlite", "postgresql", "journal"):
        return uris.normalise(url, what="Optuna storage", field="--storage", allow_journal=True)
    return url


def open_storage(url: str, *, heartbeat_interval: float | None = None, grace_period: float | None = None):
    """An Optuna storage for ``url``: ``journal:PATH`` (journal file) or any SQLAlchemy URL (RDB).

    RDB storages get a heartbeat: a trial whose process died (no heartbeat for ``grace_period`` s) is
    marked FAIL the next time any worker starts a trial, and re-queued with the same parameters
    (``RetryFailedTrialCallback``, up to 2 retries; the retry names the failed trial in
    ``system_attrs['failed_trial']``). SQLite waits up to 60 s for a lock held by another worker.
    """
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    from bench.records import uris

    url = normalise_storage(url)
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):]).expanduser()
        if not str(path):
            raise ConfigError("empty journal path", field="--storage", fix="write journal:/path/to/study.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif uris.kind(url) == "postgresql":
        engine_kwargs = {"connect_args": {"connect_timeout": 10}}
    try:
        for attempt in range(4):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat: "experimental"
                    return RDBStorage(url, engine_kwargs=engine_kwargs,
                                      heartbeat_interval=int(heartbeat_interval or HEARTBEAT_INTERVAL) or 1,
                                      grace_period=int(grace_period or GRACE_PERIOD) or 1, **_retry_callback())
            except Exception as exc:
                # Concurrent first start: another worker is creating the same tables right now.
                text = str(exc).lower()
                racing = "already exists" in text or "duplicate key" in text or "uniqueviolation" in text
                if not racing or attempt == 3:
                    raise
                time.sleep(0.5 * (attempt + 1))
    except (ImportError, ModuleNotFoundError) as exc:
        raise ConfigError(f"the storage '{redact(url)}' needs a database driver that is not installed: "
                          f"{uris.scrub(str(exc), url)}", field="--storage",
                          fix="install it: pip install 'brainvis-bench[postgres]' (psycopg 3) for postgresql://, "
                              "or use sqlite:///optuna.db") from None
    except Exception as exc:  # sqlalchemy raises many types for a bad URL or an unreachable server
        if isinstance(exc, optuna.exceptions.OptunaError) or "sqlalchemy" in type(exc).__module__ \
                or "psycopg" in type(exc).__module__:
            cause = uris.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
            raise ConfigError(f"cannot open the Optuna storage '{redact(url)}': {cause}", field="--storage",
                              fix="use sqlite:///optuna.db, a reachable postgresql://USER:PASSWORD@HOST:5432/DB "
                                  "(the database must exist), or journal:PATH") from None
        raise


def _retry_callback() -> dict[str, Any]:
    """Re-queue a trial whose worker stopped heart-beating (Optuna >= 4.9 name, else the older one)."""
    try:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        return {"heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)}
    except ImportError:
        from optuna.storages import RetryFailedTrialCallback

        return {"failed_trial_callback": RetryFailedTrialCallback(max_retry=MAX_RETRY)}


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and MLflow tags)."""
    from bench.records import uris

    return uris.redact(url)


def storage_identity(url: str) -> str:
    """The storage's identity (no credentials, one spelling): tags the study's MLflow parent run."""
    from bench.records import uris

    try:
        return uris.identity(normalise_storage(url))
    except BenchError:
        return redact(url)


# ---------------------------------------------------------------------------------------------
# What every worker needs (picklable)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyConfig:
    """Everything a worker process needs to run trials of one study."""

    study_name: str
    storage: str
    task: TaskSpec
    submission: dict[str, Any]          # the resolved submission (JSON form); trial values merge into it
    space: dict[str, Any]               # SearchSpace.as_dict()
    split: str
    subject: int
    unit_seed: int
    metric: str
    settings: Settings
    experiment_id: str
    parent_run_id: str
    invocation: str = ""                # token of the `bench tune` call (exact per-invocation counts)

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.model_validate(self.space)


def trial_submission(config: StudyConfig, values: dict[str, Any]) -> SubmissionSpec:
    """The submission a trial trains: the original with the trial's values merged in."""
    from bench.config import parse
    from bench.config.yaml_io import deep_merge

    data = deep_merge(config.submission, SearchSpace.to_overrides(values))
    return parse(SubmissionSpec, data, f"trial values {values}")


def _retry(fn: Callable, *args, attempts: int = 4, **kwargs):
    """Call an MLflow client method, retrying briefly (SQLite locks between worker processes)."""
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception:
            if i == attempts - 1:
                raise
            time.sleep(0.5 * 2 ** i)


class Objective:
    """One Optuna trial: suggest values, train on validation only, report each epoch, log to MLflow."""

    def __init__(self, config: StudyConfig, sampler_seed: int) -> None:
        self.config = config
        self.sampler_seed = sampler_seed
        self.space = config.search_space
        self._client = None

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.config.settings.tracking_uri)
        return self._client

    def __call__(self, trial) -> float:
        import optuna
        from mlflow.entities import Metric, Param

        from bench.tasks import Unit, task_kind

        cfg = self.config
        values = self.space.suggest(trial)
        for key, value in (("subject", cfg.subject), ("split", cfg.split), ("unit_seed", cfg.unit_seed),
                           ("sampler_seed", self.sampler_seed), ("metric", cfg.metric),
                           ("worker_pid", os.getpid()), ("worker", _worker_identity()),
                           ("invocation", cfg.invocation)):
            trial.set_user_attr(key, value)
        run = _retry(self.client.create_run, cfg.experiment_id, run_name=f"{cfg.study_name}#{trial.number}",
                     tags={"mlflow.parentRunId": cfg.parent_run_id, "bench.kind": "trial",
                           "bench.study": cfg.study_name, "optuna.trial_number": str(trial.number),
                           "optuna.state": "RUNNING"})
        run_id = run.info.run_id
        trial.set_user_attr("mlflow_run_id", run_id)
        if trial.user_attrs.get("baseline"):
            _retry(self.client.set_tag, run_id, "bench.baseline", "true")
        params = [Param(k, json_text(v)) for k, v in values.items()]
        params += [Param(f"bench.{k}", str(v)) for k, v in (("subject", cfg.subject), ("split", cfg.split),
                                                              ("unit_seed", cfg.unit_seed),
                                                              ("sampler_seed", self.sampler_seed),
                                                              ("trial_number", trial.number))]
        _retry(self.client.log_batch, run_id, params=params)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            now = int(time.time() * 1000)
            batch = [Metric(k, float(v), now, epoch) for k, v in metrics.items()
                     if isinstance(v, (int, float)) and math.isfinite(float(v))]
            if batch:
                _retry(self.client.log_batch, run_id, metrics=batch)
            if cfg.metric not in metrics:
                raise ConfigError(f"the training loop reported {sorted(metrics)} but not '{cfg.metric}'",
                                  field="metric", fix="tune on val_loss or val_top1")
            value = float(metrics[cfg.metric])
            if not math.isfinite(value):
                raise optuna.TrialPruned(f"{cfg.metric} is {value} at epoch {epoch}")
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} ({cfg.metric}={value:.4f})")

        unit_label = f"trial {trial.number}"
        try:
            submission = trial_submission(cfg, values)
            unit = Unit(cfg.task, submission, cfg.split, cfg.subject, cfg.unit_seed)
            unit_label = unit.label
            out = task_kind(cfg.task).run(unit, cfg.settings, progress=False, validation_only=True,
                                          on_epoch=on_epoch)
            if cfg.metric not in out.metrics:
                raise BenchError(f"the task returned {sorted(out.metrics)} without '{cfg.metric}'",
                                 fix="the task kind's validation_only run must return validation metrics")
            value = float(out.metrics[cfg.metric])
        except optuna.TrialPruned as exc:
            self._finish(run_id, "PRUNED", "FINISHED", note=str(exc))
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, BenchError):
                error += "\n" + "".join(traceback.format_exception(exc)[-4:])
            trial.set_user_attr("error", error[:2000])
            self._finish(run_id, "FAIL", "FAILED", note=error)
            raise
        now = int(time.time() * 1000)
        final = [Metric(f"selected/{k}", float(v), now, 0) for k, v in out.metrics.items()
                 if isinstance(v, (int, float)) and math.isfinite(float(v))]
        final.append(Metric("objective", value, now, 0))
        if out.chosen_epoch is not None:
            final.append(Metric("chosen_epoch", float(out.chosen_epoch), now, 0))
            trial.set_user_attr("chosen_epoch", int(out.chosen_epoch))
        _retry(self.client.log_batch, run_id, metrics=final)
        if not math.isfinite(value):
            self._finish(run_id, "FAIL", "FAILED", note=f"{cfg.metric} is {value} ({unit_label})")
            return value  # Optuna marks a NaN objective as failed
        self._finish(run_id, "COMPLETE", "FINISHED")
        return value

    def _finish(self, run_id: str, state: str, status: str, note: str | None = None) -> None:
        try:
            _retry(self.client.set_tag, run_id, "optuna.state", state)
            if note:
                _retry(self.client.set_tag, run_id, "bench.note", note[:5000])
            _retry(self.client.set_terminated, run_id, status)
        except Exception as exc:  # logging must not hide the trial's own outcome
            warnings.warn(f"could not finish MLflow run {run_id}: {exc}", stacklevel=2)


def json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def run_worker(config: StudyConfig, n_trials: int, sampler_seed: int, num_threads: int | None) -> dict[str, Any]:
    """Run ``n_trials`` trials of the study in this process (a worker, or the caller for ``n_jobs=1``)."""
    import optuna

    if num_threads:
        import torch

        torch.set_num_threads(num_threads)
    space = config.search_space
    storage = open_storage(config.storage)
    study = optuna.load_study(study_name=config.study_name, storage=storage,
                              sampler=space.sampler.build(sampler_seed), pruner=space.pruner.build())
    study.optimize(Objective(config, sampler_seed), n_trials=n_trials, catch=(Exception,), gc_after_trial=True)
    return {"sampler_seed": sampler_seed, "n_trials": n_trials, "pid": os.getpid()}


def _worker_entry(config: StudyConfig, n_trials: int, sampler_seed: int, num_threads: int | None) -> dict[str, Any]:
    """Process-pool entry (the pool's initialiser set the worker's environment, HF_HUB_OFFLINE
    included): never let an exception (or an unpicklable one) kill the pool silently."""
    try:
        return run_worker(config, n_trials, sampler_seed, num_threads)
    except BaseException as exc:  # noqa: BLE001 - reported to the driver
        return {"error": f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc)[-6:])}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

@dataclass
class TuneResult:
    """What one ``tune`` invocation left in the study."""

    study_name: str
    storage: str                         # redacted (no password)
    metric: str
    direction: str
    subject: int
    unit_seed: int
    n_new: int                           # trials this invocation ran
    n_trials: int                        # trials in the study now (all invocations)
    n_complete: int
    n_pruned: int
    n_failed: int
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    out_path: Path | None = None
    artifacts: list[str] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)
    trial_errors: list[str] = field(default_factory=list)
    new_complete: int = 0                # of the trials this invocation ran
    new_pruned: int = 0
    new_failed: int = 0
    running: list[str] = field(default_factory=list)    # RUNNING trials of the study now (other workers, or dead)
    failed: list[str] = field(default_factory=list)     # FAIL trials of the study, with the first error line

    def summary(self) -> str:
        lines = [f"study '{self.study_name}' ({self.storage}): {self.n_trials} trials "
                 f"({self.n_new} new): {self.n_complete} complete, {self.n_pruned} pruned, {self.n_failed} failed",
                 f"this invocation: {self.n_new} trials: {self.new_complete} complete, {self.new_pruned} pruned, "
                 f"{self.new_failed} failed"]
        if self.running:
            lines.append(f"running now ({len(self.running)}; a dead worker's trial is failed and re-queued after "
                         f"{GRACE_PERIOD:g} s without heartbeat): " + "; ".join(self.running[:10]))
        if self.failed:
            lines.append(f"failed trials ({len(self.failed)}):")
            lines += [f"  {f}" for f in self.failed[:10]] + ([f"  ... and {len(self.failed) - 10} more"]
                                                             if len(self.failed) > 10 else [])
        if self.best_number is not None:
            lines.append(f"best: trial {self.best_number}  {self.metric}={self.best_value:.5g} "
                         f"({self.direction}; subject {self.subject}, seed {self.unit_seed}, validation split only)")
            lines += [f"  {k} = {v}" for k, v in self.best_params.items()]
        if self.out_path:
            lines.append(f"best-trial submission: {self.out_path}  (run it with `bench evaluate {self.out_path}`)")
        if self.parent_run_id:
            lines.append(f"MLflow: parent run {self.parent_run_id} in experiment '{TUNING_EXPERIMENT}' "
                         f"at {self.tracking_uri}")
        return "\n".join(lines)


def tune(submission_ref: str | Path, task_ref: str | Path, space_path: str | Path, *, trials: int,
         settings: Settings, storage: str | None = None, study_name: str | None = None, n_jobs: int = 1,
         pruner: str | None = None, seed: int = 0, subject: int | None = None, tune_seed: int | None = None,
         out: str | Path | None = None, write_best: bool = True) -> TuneResult:
    """Run ``trials`` more trials of the study for (submission, task) and write the best trial out.

    submission_ref / task_ref: names or YAML paths (as for ``bench evaluate``).
    space_path:  search-space YAML (see :mod:`bench.tuning.space`).
    trials:      trials this call adds (split over ``n_jobs`` worker processes).
    storage:     SQLAlchemy URL or ``journal:PATH``; default ``sqlite:///./optuna.db``.
    study_name:  default ``<submission>__<task>``.
    pruner:      overrides the space's pruner name (median, percentile, none).
    seed:        sampler seed (TPE / random), recorded.
    subject:     the subject whose training data are tuned on (default: the task's first).
    tune_seed:   the unit seed every trial trains with (default: the task's first seed).
    out:         where the best trial's YAML goes (default ``submissions/tuned/<name>_tuned.yaml``).
    write_best:  False: do not write the best trial's YAML.

    Raises :class:`ConfigError` before any trial for a bad space, submission, task or resume, and
    :class:`BenchError` when every new trial failed (with the first trial's error).
    """
    import optuna

    from bench.config import load_submission, load_task, spec_hash
    from bench.tasks import task_kind

    if trials < 1:
        raise ConfigError(f"trials must be >= 1 (got {trials})", field="--trials", fix="ask for at least one trial")
    if n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1 (got {n_jobs})", field="--n-jobs", fix="use 1 or more processes")
    sub = load_submission(submission_ref)
    task = load_task(task_ref)
    space = load_space(space_path)
    space.check_against(sub.spec, where=Path(space_path))
    if pruner is not None:
        if pruner not in ("median", "percentile", "none"):
            raise ConfigError(f"unknown pruner '{pruner}'", field="--pruner", fix="use median, percentile or none")
        space = space.model_copy(update={"pruner": space.pruner.model_copy(update={"name": pruner})})
    kind = task_kind(task.spec)
    kind.validate_submission(sub.spec)

    subject = task.spec.dataset.subjects[0] if subject is None else int(subject)
    splits = {s: name for name, s in kind.splits()}
    if subject not in splits:
        raise ConfigError(f"subject {subject} is not in task '{task.name}' (has {sorted(splits)})",
                          field="--subject", fix="choose one of the task's subjects")
    unit_seed = task.spec.seeds[0] if tune_seed is None else int(tune_seed)
    metric = space.metric or task.spec.selection.metric
    direction = DIRECTIONS[metric]
    if metric == "val_loss" and space.loss_scale_paths():
        bad = space.loss_scale_paths()
        raise ConfigError(f"the objective is val_loss, but {', '.join(bad)} change(s) what the loss measures "
                          "(batch size = number of negatives, temperature, loss, targets), so trials that differ "
                          "in them cannot be compared on it", where=Path(space_path), field=f"params.{bad[0]}",
                          fix="add 'metric: val_top1' to the space file (retrieval among the validation images "
                              "does not depend on them), or do not tune these fields")
    study_name = study_name or f"{sub.name}__{task.name}"
    if not _NAME.match(study_name):
        raise ConfigError(f"study name '{study_name}' has characters that are not allowed", field="--study-name",
                          fix="use letters, digits, '.', '_' and '-'")
    storage = normalise_storage(storage or default_storage())
    attrs = {"submission": sub.name, "task": task.name, "submission_hash": spec_hash(sub.spec),
             "task_hash": spec_hash(task.spec), "space": _space_identity(space), "subject": subject,
             "unit_seed": unit_seed, "metric": metric}

    # ---- the study (created, or resumed with the same definition) ------------------------------
    optuna_storage = open_storage(storage)
    study = optuna.create_study(study_name=study_name, storage=optuna_storage, direction=direction,
                                load_if_exists=True, sampler=space.sampler.build(seed), pruner=space.pruner.build())
    n_before = len(study.trials)
    existing = {k[len("bench."):]: v for k, v in study.user_attrs.items() if k.startswith("bench.")}
    if existing:
        changed = [k for k in _ATTR_KEYS if k in existing and existing[k] != attrs[k]]
        if changed:
            raise ConfigError(
                f"study '{study_name}' in {redact(storage)} was made with a different "
                + ", ".join(f"{k} ({existing[k]!r} -> {attrs[k]!r})" for k in changed),
                field="--study-name", fix="resume with the same submission, task, space, subject, seed and metric, "
                                          "or start a new study with --study-name")
    else:
        for k, v in attrs.items():
            study.set_user_attr(f"bench.{k}", v)
        study.set_user_attr("bench.created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        baseline = space.baseline_values(sub.spec) if space.baseline else {}
        if baseline and n_before == 0:
            study.enqueue_trial(baseline, user_attrs={"baseline": True}, skip_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study '{study_name}' {study.direction.name.lower()}s but '{metric}' needs {direction}",
                          field="--study-name", fix="use a new --study-name")

    # ---- MLflow parent run ---------------------------------------------------------------------
    from bench.records.mlflow_store import RecordStore

    store = RecordStore(settings.tracking_uri, experiment=TUNING_EXPERIMENT)
    parent = _parent_run(store, study_name, storage, sub, task, space, attrs, seed)

    import secrets

    config = StudyConfig(invocation=secrets.token_hex(6), study_name=study_name, storage=storage, task=task.spec,
                         submission=sub.spec.model_dump(mode="json"), space=space.as_dict(),
                         split=splits[subject], subject=subject, unit_seed=unit_seed, metric=metric,
                         settings=settings, experiment_id=store.experiment_id, parent_run_id=parent)

    # ---- run the trials ------------------------------------------------------------------------
    shares = [trials // n_jobs + (1 if i < trials % n_jobs else 0) for i in range(n_jobs)]
    shares = [s for s in shares if s > 0]
    seeds = [_derived_seed(seed, n_before, i, _worker_identity()) for i in range(len(shares))]
    worker_errors: list[str] = []
    try:
        if len(shares) == 1:
            run_worker(config, shares[0], seeds[0], settings.num_threads)
        else:
            worker_errors = _run_processes(config, shares, seeds, settings.num_threads)
    except BaseException:
        try:
            store.client.set_terminated(parent, "KILLED")
        except Exception:
            pass
        raise
    finally:
        from bench.data import last_read

        last_read.clear()   # every trial read the same subject: kept for the next trial, not beyond
    study = optuna.load_study(study_name=study_name, storage=optuna_storage)
    result = _summarise(study, n_before, metric, direction, subject, unit_seed, storage, parent, settings,
                        invocation=config.invocation)
    result.worker_errors = worker_errors
    result.artifacts = _log_study_artifacts(store, parent, study, seed)
    if write_best and result.best_number is not None:
        path = Path(out) if out else Path.cwd() / "submissions" / "tuned" / f"{sub.name}_tuned.yaml"
        result.out_path = write_best_submission(study, sub, task.name, path, metric=metric, subject=subject,
                                                unit_seed=unit_seed, study_name=study_name)
        store.client.log_artifact(parent, str(result.out_path), "best")
    _finish_parent(store, parent, result, failed=bool(worker_errors))
    if result.n_complete == 0 and result.n_new > 0 and result.new_failed == result.n_new:
        first = (result.trial_errors or worker_errors or ["(no error message)"])[0]
        raise BenchError(f"all {result.n_new} new trials of study '{study_name}' failed; the first error:\n{first}",
                         fix="fix the error above (run one unit with `bench evaluate` to see it in full)")
    return result


def _space_identity(space: SearchSpace) -> str:
    """What a resumed study must keep: the distributions and the metric (pruner/sampler may change)."""
    from bench.config.hashing import content_hash

    return content_hash({"params": space.as_dict()["params"], "metric": space.metric})


def _worker_identity() -> str:
    """``host:pid`` of this process (what tells concurrent tuning workers apart)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _derived_seed(seed: int, n_before: int, worker: int, identity: str = "") -> int:
    """A distinct sampler seed per (seed, worker identity): concurrent workers -- processes of one call,
    or several `bench tune` commands on one study -- and resumed invocations never replay each
    other's samples. The seed is recorded on every trial (``user_attrs['sampler_seed']``)."""
    import hashlib

    import numpy as np

    ident = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
    return int(np.random.SeedSequence([seed, n_before, worker, ident]).generate_state(1)[0])


def _run_processes(config: StudyConfig, shares: list[int], seeds: list[int], num_threads: int | None) -> list[str]:
    """Run the shares in worker processes (torch trains poorly on threads): the pool of ``bench evaluate
    --jobs``, forked from the preloaded fork server and dying with this process; returns worker errors."""
    from bench.execution.executors import worker_pool

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = num_threads or max(1, cores // len(shares))
    errors: list[str] = []
    with worker_pool(len(shares), threads) as pool:
        futures = [pool.submit(_worker_entry, config, n, s, threads) for n, s in zip(shares, seeds)]
        for i, fut in enumerate(futures):
            try:
                res = fut.result()
            except Exception as exc:  # a worker process died (BrokenProcessPool) or returned garbage
                errors.append(f"worker {i}: {type(exc).__name__}: {exc}")
                continue
            if "error" in res:
                errors.append(f"worker {i}: {res['error']}")
    return errors


def _parent_run(store, study_name: str, storage: str, sub, task, space: SearchSpace, attrs: dict, seed: int) -> str:
    """The study's MLflow parent run: found by tag (a resumed study reuses it) or created."""
    import yaml
    from mlflow.entities import Param

    client = store.client
    runs = client.search_runs([store.experiment_id],
                              filter_string=f"tags.`bench.kind` = 'study' and tags.`bench.study` = '{study_name}'",
                              max_results=100)
    runs = [r for r in runs if r.data.tags.get("bench.storage") in (storage_identity(storage), redact(storage))]
    if runs:
        run_id = sorted(runs, key=lambda r: r.info.start_time)[0].info.run_id
        client.update_run(run_id, status="RUNNING")
        return run_id
    run = client.create_run(store.experiment_id, run_name=f"study {study_name}",
                            tags={"bench.kind": "study", "bench.study": study_name,
                                  "bench.storage": storage_identity(storage),
                                  "bench.submission": sub.name, "bench.task": task.name})
    run_id = run.info.run_id
    params = {**{k: str(v) for k, v in attrs.items()}, "direction": DIRECTIONS[attrs["metric"]],
              "storage": redact(storage), "sampler": space.sampler.name, "pruner": space.pruner.name}
    client.log_batch(run_id, params=[Param(k, v[:500]) for k, v in params.items()])
    client.log_text(run_id, yaml.safe_dump(space.as_dict(), sort_keys=False), "space.yaml")
    client.log_text(run_id, sub.to_yaml(), "submission.yaml")
    client.log_text(run_id, task.to_yaml(), "task.yaml")
    return run_id


def _summarise(study, n_before: int, metric: str, direction: str, subject: int, unit_seed: int, storage: str,
               parent: str, settings: Settings, invocation: str = "") -> TuneResult:
    from optuna.trial import TrialState

    from bench.records import uris

    trials = study.trials
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    mine = [t for t in trials if invocation and t.user_attrs.get("invocation") == invocation]
    result = TuneResult(study_name=study.study_name, storage=redact(storage), metric=metric, direction=direction,
                        subject=subject, unit_seed=unit_seed, n_new=len(mine), n_trials=len(trials),
                        n_complete=len(by_state[TrialState.COMPLETE]), n_pruned=len(by_state[TrialState.PRUNED]),
                        n_failed=len(by_state[TrialState.FAIL]), parent_run_id=parent,
                        tracking_uri=uris.redact(settings.tracking_uri))
    result.new_complete = sum(t.state == TrialState.COMPLETE for t in mine)
    result.new_pruned = sum(t.state == TrialState.PRUNED for t in mine)
    result.new_failed = sum(t.state == TrialState.FAIL for t in mine)
    result.trial_errors = [f"trial {t.number}: {t.user_attrs['error']}" for t in mine
                           if t.state == TrialState.FAIL and "error" in t.user_attrs]
    result.running = [f"trial {t.number} (worker {t.user_attrs.get('worker', '?')}, started "
                      f"{t.datetime_start:%Y-%m-%d %H:%M:%S})" if t.datetime_start else f"trial {t.number}"
                      for t in by_state[TrialState.RUNNING]]
    retried = {t.system_attrs["failed_trial"]: t.number for t in trials if "failed_trial" in t.system_attrs}
    for t in by_state[TrialState.FAIL]:
        lines = str(t.user_attrs.get("error", "")).strip().splitlines()
        why = lines[0][:200] if lines else "its worker stopped (no heartbeat)"
        if t.number in retried:
            why += f" (re-queued as trial {retried[t.number]})"
        result.failed.append(f"trial {t.number}: {why}")
    if result.n_complete:
        best = study.best_trial
        result.best_number, result.best_value, result.best_params = best.number, float(best.value), dict(best.params)
    return result


def _log_study_artifacts(store, run_id: str, study, seed: int) -> list[str]:
    """Optuna's plots (history, intermediate values, importances) and the trials table, on the parent run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm
    from optuna.trial import TrialState

    written: list[str] = []
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    plots: list[tuple[str, Callable]] = []
    if complete:
        plots.append(("optimization_history.png", lambda: ovm.plot_optimization_history(study)))
    if any(t.intermediate_values for t in study.trials):
        plots.append(("intermediate_values.png", lambda: ovm.plot_intermediate_values(study)))
    if importances_computable(complete):
        plots.append(("param_importances.png", lambda: ovm.plot_param_importances(
            study, evaluator=_importance_evaluator(seed))))
    for name, make in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = make()
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            store.client.log_figure(run_id, fig, f"optuna/{name}")
            plt.close(fig)
            written.append(f"optuna/{name}")
        except Exception as exc:  # e.g. importances when every trial used the same values
            warnings.warn(f"could not draw {name}: {exc}", stacklevel=2)
            plt.close("all")
    try:
        frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
        store.client.log_text(run_id, frame.to_csv(index=False), "optuna/trials.csv")
        written.append("optuna/trials.csv")
    except Exception as exc:
        warnings.warn(f"could not write the trials table: {exc}", stacklevel=2)
    return written


def importances_computable(complete: list) -> bool:
    """Importances explain the variance of the objective over finished trials: they need two finished
    trials whose objective differs and whose parameters differ (pruned trials carry no objective)."""
    return (len({t.value for t in complete}) >= 2
            and len({tuple(sorted(t.params.items())) for t in complete}) >= 2)


def _importance_evaluator(seed: int):
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    try:
        import sklearn  # noqa: F401  (fANOVA's random forest)

        return FanovaImportanceEvaluator(seed=seed)
    except ImportError:
        return PedAnovaImportanceEvaluator()


def _finish_parent(store, run_id: str, result: TuneResult, failed: bool) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    step = result.n_trials
    metrics = {"n_trials": result.n_trials, "n_complete": result.n_complete, "n_pruned": result.n_pruned,
               "n_failed": result.n_failed}
    if result.best_value is not None and math.isfinite(result.best_value):
        metrics["best_value"] = result.best_value
        metrics["best_trial"] = result.best_number
    store.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])
    if result.best_number is not None:
        store.client.set_tag(run_id, "bench.best_trial", str(result.best_number))
    store.client.set_terminated(run_id, "FAILED" if failed else "FINISHED")


def write_best_submission(study, sub, task_name: str, path: Path, *, metric: str, subject: int, unit_seed: int,
                          study_name: str) -> Path:
    """Write the best trial as a submission that ``extends:`` the original with only the tuned values.

    The file is validated (``bench.validate.validate_file``) before this returns.
    """
    import yaml

    from bench.validate import validate_file

    best = study.best_trial
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if sub.path is None:
        raise ConfigError("the submission has no file to extend", fix="tune a submission given by file or name")
    parent_ref = os.path.relpath(sub.path, path.parent.resolve())
    name = path.stem if _NAME.match(path.stem) else f"{sub.name}_tuned"
    body = {"extends": parent_ref, "name": name,
            "description": f"{sub.name} with hyperparameters tuned by `bench tune` (study {study_name}, "
                           f"trial {best.number}, {metric}={best.value:.5g} on {task_name}).",
            **SearchSpace.to_overrides(dict(best.params))}
    header = (f"# Best trial of Optuna study '{study_name}' (trial {best.number} of {len(study.trials)}):\n"
              f"# {metric} = {best.value:.6g} on task '{task_name}', subject {subject}, seed {unit_seed},\n"
              f"# chosen on the validation split only (the test split was never read during the search).\n"
              f"# Written by `bench tune`; run it with `bench evaluate {path}`.\n")
    path.write_text(header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False))
    validate_file(path)
    return path
