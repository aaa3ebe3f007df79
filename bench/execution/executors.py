"""Executors: where units run. Each maps :func:`bench.execution.unit.execute_unit` over a *feed*.

An executor is ``run(feed, settings, progress) -> Iterator[Record]``. ``feed`` is a list of planned
units or a callable returning the next unit to run (``None`` when there is none): the driver's feed
claims each unit in the store just before handing it out (:mod:`bench.records.claims`), so an
executor holds only as many claims as it has units in flight. Records are yielded as units complete.

- ``local``:   one after another in this process (the zero-dependency default for one job);
- ``process``: ``jobs`` worker processes, one torch thread each unless ``Settings.num_threads`` says
  otherwise (``bench evaluate --jobs N``). Workers fork from a *fork server* that imported what every
  unit needs once (:mod:`bench.execution.worker_imports`; :func:`start_worker_server` starts it
  early, so those imports overlap the driver's own start-up); where there is no fork server, they are
  spawned;
- ``ray``:     one Ray task per unit on a local or joined cluster (``--executor ray``).

A unit that raises becomes a failed record inside ``execute_unit``; a unit whose worker dies (OOM,
segfault, lost node) becomes a failed record here. The other units go on.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Callable, Iterator

from bench.errors import ConfigError
from bench.execution.plan import PlannedUnit
from bench.execution.unit import execute_unit, failed_record
from bench.records.schema import Record
from bench.settings import Settings

Feed = Callable[[], "PlannedUnit | None"]
Executor = Callable[["list[PlannedUnit] | Feed", Settings, bool], Iterator[Record]]

#: Environment every worker gets (no hub lookups at run time, as in the CLI).
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}

#: What the fork server imports before it forks workers (see that module).
WORKER_PRELOAD = ("bench.execution.worker_imports",)


def as_feed(units: "list[PlannedUnit] | Feed") -> Feed:
    """A callable handing out ``units`` one by one (a callable is returned unchanged)."""
    if callable(units):
        return units
    queue = list(units)
    return lambda: queue.pop(0) if queue else None


def available_cpus() -> int:
    """CPUs this process may use (affinity-aware; the default of ``--jobs`` and of a local Ray cluster)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# ---- local ----------------------------------------------------------------------------------------

def local_executor(units: "list[PlannedUnit] | Feed", settings: Settings, progress: bool) -> Iterator[Record]:
    """Run units one after another in this process."""
    feed = as_feed(units)
    while (planned := feed()) is not None:
        yield execute_unit(planned, settings, progress=progress)


# ---- process pool ---------------------------------------------------------------------------------

def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies, so kill -9 of `bench evaluate` leaves no
    orphan training on. A worker's parent is the fork server (or, spawned, the driver); the fork server
    calls this too (:mod:`bench.execution.worker_imports`), so the chain ends at the driver. The signal
    follows the parent *thread* that started the process: the driver starts pools on its main thread."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``; never plain ``fork``
    (the driver runs threads: heartbeat, MLflow)."""
    import multiprocessing

    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def start_worker_server() -> None:
    """Start the fork server now, importing :data:`WORKER_PRELOAD` in the background.

    Call it as early as possible when units will run in worker processes: the server's imports then
    overlap the driver's start-up (its own imports, the store, planning). Idempotent; a no-op without
    a fork server (spawn) or once the server runs (its preload list is fixed at its start).
    """
    if _start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.set_forkserver_preload(list(WORKER_PRELOAD))
    forkserver.ensure_running()


def _pool_init(threads: int, environ: dict[str, str]) -> None:
    # A forked worker inherits the fork server's environment, taken when the server started; a unit
    # must see the driver's as it is now (as a spawned worker would).
    os.environ.clear()
    os.environ.update(environ)
    for key, value in WORKER_ENV.items():
        os.environ.setdefault(key, value)
    die_with_parent()
    import torch

    torch.set_num_threads(threads)


def worker_pool(max_workers: int, threads: int):
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of up to ``max_workers`` worker processes:
    forked from the preloaded fork server (spawned where there is none), each with the driver's
    environment as it is now, ``threads`` torch threads, and dying with the driver. The pool of
    ``bench evaluate --jobs N`` and of ``bench tune --n-jobs N``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    start_worker_server()
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context(_start_method()),
                               initializer=_pool_init, initargs=(threads, dict(os.environ)))


def _pool_unit(planned: PlannedUnit, settings: Settings) -> Record:
    return execute_unit(planned, settings, progress=False)


def make_process_executor(jobs: int) -> Executor:
    """Run up to ``jobs`` units at once, each in a worker process with one torch thread (by default)."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1 (got {jobs})", field="--jobs", fix="use 1 or more processes")

    def process_executor(units, settings: Settings, progress: bool) -> Iterator[Record]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        feed = as_feed(units)
        threads = settings.num_threads or 1
        unit_settings = settings.with_(num_threads=threads)
        pool = worker_pool(jobs, threads)
        inflight: dict[Any, PlannedUnit] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(inflight) < jobs:
                    planned = feed()
                    if planned is None:
                        exhausted = True
                        break
                    inflight[pool.submit(_pool_unit, planned, unit_settings)] = planned
                if not inflight:
                    return
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    planned = inflight.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        yield failed_record(planned, settings, f"worker process died: {exc}")
                    except Exception as exc:  # a result that cannot be unpickled, ...
                        yield failed_record(planned, settings, f"{type(exc).__name__}: {exc}")
                if broken:  # the other in-flight units died with the pool: record them, start a new one
                    for fut, planned in list(inflight.items()):
                        try:
                            yield fut.result(timeout=0)
                        except Exception as exc:
                            yield failed_record(planned, settings, f"worker process died: {exc}")
                    inflight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = worker_pool(jobs, threads)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    return process_executor


# ---- Ray ------------------------------------------------------------------------------------------

def _require_ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the Ray executor needs Ray, which is not installed", field="--executor",
                          fix="install the extra (`pip install '.[ray]'`) or use --executor local") from exc
    return ray


def _run_unit(planned: PlannedUnit, settings: Settings) -> Record:
    """What one Ray task runs: the same function as the local executor."""
    for key, value in WORKER_ENV.items():
        os.environ.setdefault(key, value)
    return execute_unit(planned, settings, progress=False)


@contextlib.contextmanager
def _stderr_copy() -> Iterator[list[str]]:
    """Capture file descriptor 2 (Ray's C++ client logs the real cause of a refused join there only),
    then write it through to the real stderr; yields a list that holds the text afterwards."""
    import sys
    import tempfile

    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            data = tmp.read()
            out.append(data.decode(errors="replace"))
            if data:
                os.write(2, data[-20000:])


def explain_join_failure(address: str, exc: BaseException, log: str = "") -> ConfigError:
    """The error for a refused ``ray.init(address=...)``, naming the real cause (from the exception or
    the client's own log lines)."""
    text = f"{type(exc).__name__}: {exc}"
    low = (text + "\n" + log).lower()
    if "invalidauthtoken" in low or "unauthenticated" in low or "authentication" in low:
        return ConfigError(
            f"the Ray cluster at '{address}' refused this process: its authentication token is missing or wrong "
            f"(InvalidAuthToken; {text.splitlines()[0][:200]})",
            field="--ray-address",
            fix="copy the head node's token (`ray get-auth-token` on the head) into RAY_AUTH_TOKEN (or the file "
                "~/.ray/auth_token, or a file named by RAY_AUTH_TOKEN_PATH) on this machine and set RAY_AUTH_MODE=token; "
                "or, on a trusted network only, start every node with RAY_AUTH_MODE=disabled (README, 'Lab setup')")
    return ConfigError(f"cannot join the Ray cluster at '{address}': {text.splitlines()[0][:300]}",
                       field="--ray-address",
                       fix="check the address and port of the running head node (`ray status` on it) and that this "
                           "machine can reach it; omit --ray-address to start a private local cluster instead")


def _connect(ray, address: str | None, init_kwargs: dict[str, Any]) -> bool:
    """``ray.init`` unless already connected; returns whether this call connected (and must shut down)."""
    if ray.is_initialized():
        return False
    kwargs = dict(init_kwargs)
    kwargs.setdefault("log_to_driver", False)
    kwargs.setdefault("runtime_env", {"env_vars": dict(WORKER_ENV)})
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address in (None, "", "local"):
        # A private cluster on this machine: loopback only (see docs: ENVIRONMENT.md, Ray).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        kwargs.setdefault("num_cpus", available_cpus())
        kwargs.setdefault("include_dashboard", False)
        kwargs.setdefault("_node_ip_address", "127.0.0.1")
        ray.init(**kwargs)
        return True
    host = address.split("://")[-1].rsplit(":", 1)[0]
    if not address.startswith("ray://") and host in ("127.0.0.1", "localhost"):
        kwargs.setdefault("_node_ip_address", "127.0.0.1")  # a loopback head: find its raylet on loopback
    captured: list[str] = []
    try:
        with _stderr_copy() as captured:
            ray.init(address=address, **kwargs)
    except Exception as exc:  # ConnectionError (an auth refusal looks like one), RuntimeError ...
        try:
            ray.shutdown()
        except Exception:
            pass
        raise explain_join_failure(address, exc, "".join(captured)) from None
    return True


def _check_resources(ray, num_cpus: float, num_gpus: float, memory: int) -> None:
    """Refuse a plan whose unit can never be scheduled (it would wait forever)."""
    total = ray.cluster_resources()
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    biggest = {r: max((n.get(r, 0) for n in nodes), default=total.get(r, 0)) for r in ("CPU", "GPU", "memory")}
    if num_cpus > biggest["CPU"]:
        raise ConfigError(f"a unit asks for {num_cpus} CPUs but the largest Ray node has {biggest['CPU']:g}",
                          field="num_cpus_per_unit", fix="ask for fewer CPUs per unit or add bigger nodes")
    if num_gpus > biggest["GPU"]:
        raise ConfigError(f"a unit asks for {num_gpus} GPUs but the largest Ray node has {biggest['GPU']:g}",
                          field="num_gpus_per_unit",
                          fix="use num_gpus_per_unit=0 (CPU), or start the nodes with GPUs (`ray start --num-gpus N`)")
    if memory and memory > biggest["memory"]:
        raise ConfigError(f"a unit asks for {memory / 2 ** 30:.1f} GiB of memory but the largest Ray node offers "
                          f"{biggest['memory'] / 2 ** 30:.1f} GiB", field="--memory-per-unit",
                          fix="ask for less memory per unit or add bigger nodes")


def make_ray_executor(address: str | None = None, num_cpus_per_unit: float = 1, num_gpus_per_unit: float = 0.0,
                      init_kwargs: dict[str, Any] | None = None, max_retries: int = 0,
                      run_unit: Callable[[PlannedUnit, Settings], Record] | None = None,
                      memory_per_unit_gb: float = 0.0) -> Executor:
    """An :data:`Executor` that runs each unit as one Ray task.

    address:            None/"local": a private local cluster on loopback (stopped at the end); "auto":
                        the cluster started on this machine with ``ray start --head``; "host:port": that
                        head node; "ray://host:10001": Ray Client. Every node must have this project installed.
    num_cpus_per_unit:  CPUs reserved per unit (also torch's thread count unless ``Settings.num_threads``).
    num_gpus_per_unit:  GPUs per unit, fractional allowed (0.25 = four units per GPU); 0 = CPU only.
    memory_per_unit_gb: memory Ray reserves per unit (0: no reservation), so big units do not OOM a node.
    max_retries:        times Ray re-runs a unit whose *worker process died* (a unit that raises is never
                        retried: it is recorded as failed).
    init_kwargs:        extra ``ray.init`` arguments.
    run_unit:           what a task runs (default: ``execute_unit``); an importable ``(planned, settings) -> Record``.
    """
    _require_ray()
    if not (num_cpus_per_unit > 0):
        raise ConfigError(f"num_cpus_per_unit must be > 0 (got {num_cpus_per_unit})", field="num_cpus_per_unit",
                          fix="reserve at least a fraction of a CPU per unit")
    if num_gpus_per_unit < 0 or (num_gpus_per_unit > 1 and num_gpus_per_unit != int(num_gpus_per_unit)):
        raise ConfigError(f"num_gpus_per_unit must be >= 0, and a whole number above 1 (got {num_gpus_per_unit})",
                          field="num_gpus_per_unit", fix="use e.g. 0, 0.25, 0.5, 1 or 2")
    if memory_per_unit_gb < 0:
        raise ConfigError(f"memory per unit must be >= 0 GB (got {memory_per_unit_gb})", field="--memory-per-unit",
                          fix="give the GB each unit needs, or 0 for no reservation")
    if max_retries < 0:
        raise ConfigError(f"retries must be >= 0 (got {max_retries})", field="--unit-retries", fix="use 0 or more")
    memory = int(memory_per_unit_gb * 2 ** 30)
    options = dict(init_kwargs or {})

    def ray_executor(units, settings: Settings, progress: bool) -> Iterator[Record]:
        import ray

        feed = as_feed(units)
        first = feed()
        if first is None:
            return
        connected = _connect(ray, address, options)
        refs: dict[Any, PlannedUnit] = {}
        try:
            _check_resources(ray, num_cpus_per_unit, num_gpus_per_unit, memory)
            slots = max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus_per_unit))
            unit_settings = settings if settings.num_threads else settings.with_(
                num_threads=max(1, math.ceil(num_cpus_per_unit)))
            remote_options = dict(num_cpus=num_cpus_per_unit, num_gpus=num_gpus_per_unit, max_retries=max_retries,
                                  retry_exceptions=False, name="bench-unit")
            if memory:
                remote_options["memory"] = memory
            task = ray.remote(run_unit or _run_unit).options(**remote_options)
            pending_unit: PlannedUnit | None = first
            while True:
                while pending_unit is not None and len(refs) < slots:
                    refs[task.remote(pending_unit, unit_settings)] = pending_unit
                    pending_unit = feed()
                if not refs:
                    return
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    planned = refs.pop(ref)
                    try:
                        record = ray.get(ref)
                    except Exception as exc:  # worker died, node lost, task cancelled, result not deserialisable
                        record = failed_record(planned, settings, _describe(exc))
                    yield record
        finally:
            for ref in refs:  # the driver stopped early (Ctrl-C, an error writing a record): free the cluster
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            if connected:
                ray.shutdown()

    return ray_executor


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"Ray: {type(exc).__name__}: {first}" + ("\n" + "\n".join(text[1:12]) if len(text) > 1 else "")


# ---- choice ---------------------------------------------------------------------------------------

def get_executor(name: str, jobs: int = 1, **options) -> Executor:
    """``local`` (``jobs`` > 1: a process pool) or ``ray`` (needs ``pip install .[ray]``)."""
    if name == "local":
        return local_executor if jobs == 1 else make_process_executor(jobs)
    if name == "ray":
        return make_ray_executor(**options)
    raise ConfigError(f"unknown executor '{name}'", field="--executor", fix="use 'local' or 'ray'")


__all__ = ["Executor", "Feed", "as_feed", "available_cpus", "explain_join_failure", "get_executor",
           "local_executor", "make_process_executor", "make_ray_executor", "start_worker_server", "worker_pool"]
