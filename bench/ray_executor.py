"""Compatibility re-export: the Ray executor lives in :mod:`bench.execution.executors`."""

from bench.execution.executors import WORKER_ENV, available_cpus, explain_join_failure, make_ray_executor
from bench.execution.unit import failed_record

__all__ = ["WORKER_ENV", "available_cpus", "explain_join_failure", "failed_record", "make_ray_executor"]
