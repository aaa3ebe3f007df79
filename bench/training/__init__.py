"""Training: objectives (``losses``), the loop with validation-only selection (``loop``), CPU tuning.

>>> from bench.training import TrainingSet, fit, embed, load_state
>>> result = fit(encoder, train, val, submission.recipe, seed=0, device="cpu")
"""

from bench.training.losses import Temperature, TrainingLoss, build_loss, info_nce, triplet
from bench.training.loop import FitResult, TrainingError, TrainingSet, embed, fit, load_state, state_copy
from bench.training.perf import tune_cpu_allocator

__all__ = ["FitResult", "Temperature", "TrainingError", "TrainingLoss", "TrainingSet", "build_loss", "embed",
           "fit", "info_nce", "load_state", "state_copy", "triplet", "tune_cpu_allocator"]
