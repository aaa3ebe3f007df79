"""Execution: the plan (units and their keys), one unit's run, the executors, and the driver.

    plan.py       resolve specs, list units, key them                (no executor, no store)
    unit.py       execute_unit: one unit -> one Record               (what every executor runs)
    executors.py  local loop, process pool (--jobs), Ray             (map execute_unit over a feed)
    driver.py     evaluate: resume, claims, live runs, records       (uses the three above)

Imports go one way (plan <- unit <- executors <- driver), so there is no cycle.
"""

from bench.execution.driver import EvaluationReport, evaluate
from bench.execution.executors import Executor, available_cpus, get_executor, local_executor
from bench.execution.plan import PlannedUnit, key_unit, plan, plan_units, resolve
from bench.execution.unit import execute_unit, failed_record

__all__ = ["EvaluationReport", "Executor", "PlannedUnit", "available_cpus", "evaluate", "execute_unit",
           "failed_record", "get_executor", "key_unit", "local_executor", "plan", "plan_units", "resolve"]
