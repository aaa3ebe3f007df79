"""Task kinds (retrieval, classification, reconstruction, saliency ...), one module each."""

from bench.registry import Registry
from bench.tasks.base import Protocol, TaskKind, Unit, UnitOutput

TASK_KINDS: Registry[type[TaskKind]] = Registry("task kind", "bench.tasks", base=TaskKind, group="task_kinds",
                                                symbol="TASK_KINDS")


def task_kind(task) -> TaskKind:
    """The task-kind object for a resolved task spec (validates its protocol block)."""
    return TASK_KINDS.get(task.kind)(task)


__all__ = ["TASK_KINDS", "Protocol", "TaskKind", "Unit", "UnitOutput", "task_kind"]
