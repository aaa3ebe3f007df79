"""Compatibility re-export: the execution code lives in :mod:`bench.execution` (plan, unit, executors, driver)."""

from bench.execution import (EvaluationReport, Executor, PlannedUnit, evaluate, execute_unit, get_executor,
                             key_unit, local_executor, plan_units, resolve)

__all__ = ["EvaluationReport", "Executor", "PlannedUnit", "evaluate", "execute_unit", "get_executor", "key_unit",
           "local_executor", "plan_units", "resolve"]
