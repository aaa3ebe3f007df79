"""Run units on a Ray cluster: ``bench evaluate ... --executor ray [--ray-address ADDRESS]``.

An executor only maps :func:`bench.runner.execute_unit` over the units to run, so Ray runs share
every semantic of local runs: the driver (:func:`bench.runner.evaluate`) keys the plan, drops units
whose key already has a finished record (resume), and writes each record to MLflow as it arrives
from the cluster; an interrupted invocation loses only the units in flight. A unit that raises
becomes a failed record (inside ``execute_unit``); a unit whose worker dies (OOM, segfault, lost
node) becomes a failed record too -- the other units go on.

Resources per unit: ``num_cpus_per_unit`` (torch uses that many threads unless the settings fix
``num_threads``) and ``num_gpus_per_unit``, which may be fractional (0.25: four small EEG trainings
share one GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` per task and ``device: auto`` picks it up).

Addresses: ``None``/``"local"`` starts a private local cluster bound to 127.0.0.1 with the CPUs this
process may use (stopped again at the end); ``"auto"`` joins the cluster started on this machine
with ``ray start --head``; ``"host:port"`` joins that head node; ``"ray://host:10001"`` uses Ray
Client. Workers must import the same ``bench`` version (install the project on every node).

Ray is an optional dependency: ``pip install '.[ray]'``.

>>> run = make_ray_executor(address="auto", num_cpus_per_unit=2, num_gpus_per_unit=0.25)
>>> for record in run(planned_units, settings, False): ...
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Iterator

from bench.errors import ConfigError
from bench.runner import Executor, PlannedUnit, execute_unit
from bench.records.schema import Record
from bench.settings import Settings

#: Environment every unit's worker gets (no hub lookups at run time, as in the CLI).
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def _require_ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the Ray executor needs Ray, which is not installed", field="--executor",
                          fix="install the extra (`pip install '.[ray]'`, i.e. ray[tune]) or use --executor local"
                          ) from exc
    return ray


def _run_unit(planned: PlannedUnit, settings: Settings) -> Record:
    """What one Ray task runs: the same function as the local executor."""
    for key, value in WORKER_ENV.items():
        os.environ.setdefault(key, value)
    return execute_unit(planned, settings, progress=False)


def failed_record(planned: PlannedUnit, settings: Settings, error: str) -> Record:
    """The failed record of a unit that could not report itself (its worker died, the task was lost ...)."""
    return execute_unit(dataclasses.replace(planned, error=error), settings, progress=False)


def available_cpus() -> int:
    """CPUs this process may use (affinity-aware; what a local cluster is started with)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


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
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"cannot join the Ray cluster at '{address}': {exc}", field="--ray-address",
                          fix="start one (`ray start --head --port 6379`), check the address, or omit "
                              "--ray-address to start a local cluster") from exc
    return True


def _check_resources(ray, num_cpus: float, num_gpus: float) -> None:
    """Refuse a plan whose unit can never be scheduled (it would wait forever)."""
    total = ray.cluster_resources()
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    biggest_cpu = max((r.get("CPU", 0) for r in nodes), default=total.get("CPU", 0))
    biggest_gpu = max((r.get("GPU", 0) for r in nodes), default=total.get("GPU", 0))
    if num_cpus > biggest_cpu:
        raise ConfigError(f"a unit asks for {num_cpus} CPUs but the largest Ray node has {biggest_cpu:g}",
                          field="num_cpus_per_unit", fix="ask for fewer CPUs per unit or add bigger nodes")
    if num_gpus > biggest_gpu:
        raise ConfigError(f"a unit asks for {num_gpus} GPUs but the largest Ray node has {biggest_gpu:g}",
                          field="num_gpus_per_unit",
                          fix="use num_gpus_per_unit=0 (CPU), or start the nodes with GPUs (`ray start --num-gpus N`)")


def make_ray_executor(address: str | None = None, num_cpus_per_unit: float = 1, num_gpus_per_unit: float = 0.0,
                      init_kwargs: dict[str, Any] | None = None, max_retries: int = 0,
                      run_unit: Callable[[PlannedUnit, Settings], Record] | None = None) -> Executor:
    """An :data:`~bench.runner.Executor` that runs each unit as one Ray task.

    address:           see the module docstring (None: a private local cluster on loopback).
    num_cpus_per_unit: CPUs reserved per unit (also torch's thread count unless ``Settings.num_threads``).
    num_gpus_per_unit: GPUs per unit, fractional allowed (0.25 = four units per GPU); 0 = CPU only.
    init_kwargs:       extra ``ray.init`` arguments (``num_cpus`` of a local cluster, ``runtime_env`` ...).
    max_retries:       times Ray re-runs a unit whose *worker process died* (a unit that raises is never
                       retried: it is recorded as failed).
    run_unit:          what a task runs (default: ``execute_unit`` with the worker environment); any
                       importable top-level function ``(planned, settings) -> Record``.

    Records are yielded as units complete (``ray.wait``), in completion order.
    """
    _require_ray()
    if not (num_cpus_per_unit > 0):
        raise ConfigError(f"num_cpus_per_unit must be > 0 (got {num_cpus_per_unit})", field="num_cpus_per_unit",
                          fix="reserve at least a fraction of a CPU per unit")
    if num_gpus_per_unit < 0 or (num_gpus_per_unit > 1 and num_gpus_per_unit != int(num_gpus_per_unit)):
        raise ConfigError(f"num_gpus_per_unit must be >= 0, and a whole number above 1 (got {num_gpus_per_unit})",
                          field="num_gpus_per_unit", fix="use e.g. 0, 0.25, 0.5, 1 or 2")
    options = dict(init_kwargs or {})

    def ray_executor(units: list[PlannedUnit], settings: Settings, progress: bool) -> Iterator[Record]:
        import ray

        if not units:
            return
        connected = _connect(ray, address, options)
        refs: dict[Any, PlannedUnit] = {}
        try:
            _check_resources(ray, num_cpus_per_unit, num_gpus_per_unit)
            unit_settings = settings if settings.num_threads else settings.with_(
                num_threads=max(1, math.ceil(num_cpus_per_unit)))
            task = ray.remote(run_unit or _run_unit).options(
                num_cpus=num_cpus_per_unit, num_gpus=num_gpus_per_unit, max_retries=max_retries,
                retry_exceptions=False, name="bench-unit")
            refs = {task.remote(p, unit_settings): p for p in units}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
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


__all__ = ["available_cpus", "failed_record", "make_ray_executor"]
