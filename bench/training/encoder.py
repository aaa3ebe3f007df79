"""Train a submission's brain encoder against image targets (retrieval-style units).

:func:`train_encoder` builds the encoder under ``torch.manual_seed(seed)`` and fits it with
:func:`bench.training.fit` (validation-only selection); :class:`TrainedEncoder` switches between
the chosen and the last checkpoint for scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass
class TrainedEncoder:
    """A brain encoder trained by :func:`bench.training.fit` (``result``: its FitResult)."""

    encoder: Any
    result: Any
    device: str
    n_parameters: int = 0

    def use(self, which: str) -> "TrainedEncoder":
        """Load the chosen (``"best"``) or the ``"last"`` epoch's weights (strictly)."""
        from bench.training.loop import load_state

        load_state(self.encoder, self.result.best_state if which == "best" else self.result.last_state)
        return self

    def embed(self, signals: Any, subjects: Any):
        """(N, D) float32 numpy embeddings of numpy ``signals``/``subjects`` with the loaded weights."""
        import numpy as np
        import torch

        from bench.training.loop import embed

        # C order and writable: torch refuses to share a read-only array (a kept load, bench.data.last_read)
        # without a warning, so such signals are copied (test sets are small)
        return embed(self.encoder, torch.from_numpy(np.require(signals, requirements=["C", "W"])),
                     torch.from_numpy(np.asarray(subjects).astype(np.int64)), device=self.device).cpu().numpy()


def train_encoder(submission: Any, shape: dict, subjects: Sequence[int], train_set: Any, val_set: Any, *,
                  seed: int, device: str, selection_metric: str = "val_loss",
                  on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                  progress: bool = True) -> TrainedEncoder:
    """Build ``submission.encoder`` for data of ``shape`` (outputs: the targets' size) and fit it."""
    import torch

    from bench.encoders import build_encoder
    from bench.training.loop import fit

    torch.manual_seed(seed)
    encoder = build_encoder(submission.encoder, shape, n_outputs=int(train_set.targets.shape[1]),
                            subjects=list(subjects))
    n_params = int(sum(p.numel() for p in encoder.parameters()))
    result = fit(encoder, train_set, val_set, submission.recipe, seed=seed, device=device,
                 selection_metric=selection_metric, on_epoch=on_epoch, progress=progress)
    return TrainedEncoder(encoder, result, device, n_params)


__all__ = ["TrainedEncoder", "train_encoder"]
