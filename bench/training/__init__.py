"""Training: objectives (``losses``), the one epoch loop with validation-only selection (``loop``),
encoder training against image targets (``encoder``, ``targets``), the Palazzo joint model
(``joint``, ``two_tower``, ``classifier``, ``image_inputs``), CPU tuning (``perf``).

>>> from bench.training import TrainingSet, fit, embed, load_state
>>> result = fit(encoder, train, val, submission.recipe, seed=0, device="cpu")

Importing the package imports no torch; its names are loaded from their modules on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Temperature": "losses", "TrainingLoss": "losses", "build_loss": "losses", "info_nce": "losses",
    "triplet": "losses",
    "FitResult": "loop", "TrainingError": "loop", "TrainingSet": "loop", "embed": "loop", "fit": "loop",
    "load_state": "loop", "state_copy": "loop",
    "tune_cpu_allocator": "perf",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"bench.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'bench.training' has no attribute '{name}'")


__all__ = sorted(_EXPORTS)
