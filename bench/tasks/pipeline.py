"""The one unit pipeline: the order every task kind runs a unit in, and the guarantees it owns.

Every task kind subclasses :class:`PipelineTaskKind` and overrides *steps*, never ``run``::

    prepare    read the training data only (train/validation rows, image embeddings, targets)
    train      fit the model; the checkpoint is chosen on validation only      -> Trained | None
               -- validation-only (tuning) mode returns here: the chosen epoch's ``val_*`` metrics;
                  the test split is never read --
    load_test  the ONLY step that reads test data (and, in a leave-one-subject-out fold, the
               held-out subject); the pipeline calls it after training has ended
    score      once per checkpoint of :meth:`PipelineTaskKind.checkpoints`: ``""`` = the chosen
               epoch, ``"last_epoch/"`` = the last one (metrics are prefixed with the label)
    finish     unit-level metrics and info (controls, chance levels, ...)

The pipeline owns the order, the ``train`` and ``total`` timings, validation-only mode and the
best-and-last scoring; ``tests/tasks/test_unit_contract.py`` checks the order on every registered
kind with a spy on the datasets. This module imports no torch.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Protocol as TypingProtocol

from bench.errors import ConfigError
from bench.settings import Settings
from bench.tasks.base import TaskKind, Unit, UnitOutput

#: Checkpoints scored by default: the epoch chosen on validation, and the last epoch.
BEST_AND_LAST: tuple[tuple[str, str], ...] = (("", "best"), ("last_epoch/", "last"))


class Trained(TypingProtocol):
    """What ``train`` returns: the fit's result (curves, chosen/last epoch) and a checkpoint switch."""

    result: Any

    def use(self, which: str) -> Any:
        """Load the chosen (``"best"``) or the ``"last"`` epoch's weights."""
        ...



@dataclass
class UnitContext:
    """One run of a unit: its inputs, the timings and the info the steps add to."""

    unit: Unit
    settings: Settings
    progress: bool = True
    on_epoch: Callable[[int, dict[str, float]], None] | None = None
    validation_only: bool = False
    dataset: Any = None
    """A dataset that replaces the task's own (a control re-running the pipeline on another file)."""
    nested: bool = False
    """True for a pipeline run inside another unit (e.g. the high-gamma control): no controls."""
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the wall time of the block to ``timings[name]`` (several blocks may share a name)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t

    def child(self, **changes: Any) -> "UnitContext":
        """A context for a nested pipeline run: fresh timings and info, no epoch callback."""
        return replace(self, on_epoch=None, validation_only=False, nested=True, timings={}, info={}, **changes)


@dataclass
class Scored:
    """What ``score`` returns for one checkpoint."""

    metrics: dict[str, float]
    per_item: dict[str, list] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything ``finish`` needs from this checkpoint (predictions, classifiers, scorer output)."""


def validation_metrics(result: Any) -> dict[str, float]:
    """The ``val_*`` curves at the chosen epoch (what a validation-only run reports)."""
    best = result.chosen_epoch - 1
    return {name: float(values[best]) for name, values in result.curves.items()
            if name.startswith("val_") and len(values) > best}


class PipelineTaskKind(TaskKind):
    """A task kind run by the unit pipeline: override the steps below, not ``run``."""

    # ---- steps -----------------------------------------------------------------------------
    def prepare(self, ctx: UnitContext) -> Any:
        """Read what training needs (never test data); return it for the next steps."""
        return None

    def train(self, ctx: UnitContext, prepared: Any) -> Trained | None:
        """Train on ``prepared``; select on validation only. None: this unit trains nothing."""
        return None

    def load_test(self, ctx: UnitContext, prepared: Any, trained: Trained | None) -> Any:
        """Read the test split (called once training has ended, never in validation-only mode)."""
        raise NotImplementedError

    def checkpoints(self, ctx: UnitContext, trained: Trained | None) -> list[tuple[str, str | None]]:
        """(metric prefix, checkpoint) pairs to score; the first is the unit's headline (``""``)."""
        return list(BEST_AND_LAST) if trained is not None else [("", None)]

    def score(self, ctx: UnitContext, prepared: Any, trained: Trained | None, test: Any, label: str) -> Scored:
        """Score the checkpoint currently loaded in ``trained`` on ``test``."""
        raise NotImplementedError

    def finish(self, ctx: UnitContext, prepared: Any, trained: Trained | None, test: Any,
               scored: dict[str, Scored], metrics: dict[str, float]) -> None:
        """Add unit-level metrics (to ``metrics``) and info (to ``ctx.info``)."""

    # ---- the pipeline ----------------------------------------------------------------------
    def run(self, unit: Unit, settings: Settings, progress: bool = True, *, validation_only: bool = False,
            on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> UnitOutput:
        """Run ``unit`` through the pipeline (see the module docstring for the order it guarantees)."""
        ctx = UnitContext(unit, settings, progress=progress, on_epoch=on_epoch, validation_only=validation_only)
        return self.execute(ctx)

    def execute(self, ctx: UnitContext) -> UnitOutput:
        """The steps in their fixed order on ``ctx`` (``run`` for a unit, or a nested run of a control)."""
        t0 = time.perf_counter()
        prepared = self.prepare(ctx)
        t = time.perf_counter()
        trained = self.train(ctx, prepared)
        if trained is not None:
            ctx.timings["train"] = time.perf_counter() - t
        result = trained.result if trained is not None else None
        curves, chosen = (result.curves, result.chosen_epoch) if result is not None else ({}, None)
        if result is not None:
            ctx.info.update(last_epoch=result.last_epoch, stopped_early=result.stopped_early)
        if ctx.validation_only:
            if result is None:
                raise ConfigError(f"task kind '{self.name}' trained nothing for this unit, so there is nothing to "
                                  "validate", where=f"submission '{ctx.unit.submission.name}'",
                                  fix="tune only submissions that train a model on this task")
            return UnitOutput(metrics=validation_metrics(result), per_item={}, curves=curves, chosen_epoch=chosen,
                              timings=ctx.timings, info=ctx.info)

        # Training has ended: only now is the test split read.
        test = self.load_test(ctx, prepared, trained)
        scored: dict[str, Scored] = {}
        for label, which in self.checkpoints(ctx, trained):
            if trained is not None and which is not None:
                trained.use(which)
            scored[label] = self.score(ctx, prepared, trained, test, label)
        if trained is not None:
            trained.use("best")
        metrics = {label + name: value for label, s in scored.items() for name, value in s.metrics.items()}
        self.finish(ctx, prepared, trained, test, scored, metrics)
        ctx.timings["total"] = time.perf_counter() - t0
        return UnitOutput(metrics=metrics, per_item=scored[""].per_item if "" in scored else {}, curves=curves,
                          chosen_epoch=chosen, timings=ctx.timings, info=ctx.info)


__all__ = ["BEST_AND_LAST", "PipelineTaskKind", "Scored", "Trained", "UnitContext", "validation_metrics"]
