"""Task kinds: how a resolved task + submission + split + seed becomes a record.

A task kind is one class in ``bench/tasks/<kind>.py`` registered in ``TASK_KINDS``. It declares
its protocol schema (the ``protocol:`` block of a task YAML), the splits a task has, the
fingerprint of what a unit reads (for the unit key), and how to run a unit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

from bench.config.schema import SubmissionSpec, TaskSpec
from bench.settings import Settings


class Protocol(BaseModel):
    """Base of a task kind's protocol block: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Unit:
    """One independent piece of work: (task, submission, split, seed). Picklable, so any executor can run it."""

    task: TaskSpec
    submission: SubmissionSpec
    split: str
    subject: int
    seed: int

    @property
    def label(self) -> str:
        return f"{self.submission.name} · {self.task.name} · {self.split} · seed {self.seed}"


@dataclass
class UnitOutput:
    """What a task kind returns for a unit; the runner wraps it into a :class:`~bench.records.Record`."""

    metrics: dict[str, float]
    per_item: dict[str, list]
    curves: dict[str, list[float]] = field(default_factory=dict)
    chosen_epoch: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class TaskKind(ABC):
    """Base class of task kinds. Constructed from a resolved task; validates its protocol block."""

    name: ClassVar[str]
    ProtocolModel: ClassVar[type[Protocol]] = Protocol

    def __init__(self, task: TaskSpec) -> None:
        from bench.config import validation_error
        from pydantic import ValidationError

        self.task = task
        try:
            self.protocol = self.ProtocolModel.model_validate(task.protocol)
        except ValidationError as exc:
            raise validation_error(exc, f"task '{task.name}'", self.ProtocolModel, prefix="protocol.") from None

    @abstractmethod
    def splits(self) -> list[tuple[str, int]]:
        """(split name, evaluated subject) pairs this task runs, e.g. [("sub-01", 1), ...]."""

    @abstractmethod
    def fingerprint(self, unit: Unit, settings: Settings) -> dict[str, str]:
        """``data_checksum`` and ``weights_checksum`` of what ``run`` will read (cheap: cached hashes)."""

    @abstractmethod
    def run(self, unit: Unit, settings: Settings, progress: bool = True, *, validation_only: bool = False,
            on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> UnitOutput:
        """Train on training data (selection on validation only), then evaluate on the test split.

        ``validation_only`` (hyperparameter search): stop after training and return the validation
        metrics of the selected epoch; the test split is never read. ``on_epoch(epoch, metrics)`` is
        called after every epoch (an Optuna trial reports there and may raise ``TrialPruned``).
        """

    def chance(self) -> dict[str, float]:
        """Chance level per headline metric, when defined (for tables and pages)."""
        return {}

    def validate_submission(self, submission: SubmissionSpec) -> None:
        """Raise ConfigError/RegistryError when ``submission`` cannot run on this task (names unknown
        plug-ins ...). Cheap: plug-ins are checked by name, not imported."""
        from bench.encoders import ENCODERS
        from bench.images import IMAGE_MODELS

        ENCODERS.require(submission.encoder.name)
        IMAGE_MODELS.require(submission.image_model.name)
