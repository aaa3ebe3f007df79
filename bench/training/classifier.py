"""Softmax classifiers on fixed embeddings (the Palazzo et al. 2020 classification heads).

:class:`LinearClassifier`: multinomial logistic regression on standardised features, its L2
weight chosen on validation data only (full-batch L-BFGS from zero, deterministic).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn


class LinearClassifier:
    """Multinomial logistic regression on standardised features; the L2 weight is chosen on validation.

    ``fit(x_train, y_train, x_val, y_val)`` trains one model per ``l2`` in ``l2_grid`` (full-batch
    L-BFGS from zero, so deterministic) and keeps the one with the best validation accuracy (ties:
    lower validation cross-entropy). Test data never enter.
    """

    def __init__(self, n_classes: int, l2_grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1), max_iter: int = 100) -> None:
        self.n_classes = int(n_classes)
        self.l2_grid = tuple(float(x) for x in l2_grid)
        self.max_iter = int(max_iter)
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        self.chosen_l2: float | None = None
        self.val_accuracy: float | None = None

    def _standardise(self, x: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
        assert self.mean is not None and self.scale is not None
        return (x - self.mean.to(x.device)) / self.scale.to(x.device)

    def fit(self, x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> "LinearClassifier":
        xt = torch.as_tensor(np.asarray(x_train, dtype=np.float64))
        yt = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
        self.mean = xt.mean(0).float()
        self.scale = xt.std(0).clamp(min=1e-6).float()
        xt = ((xt.float() - self.mean) / self.scale).double()
        xv = self._standardise(x_val).double()
        yv = torch.as_tensor(np.asarray(y_val, dtype=np.int64))
        best: tuple[float, float] | None = None
        with torch.enable_grad():
            for l2 in self.l2_grid:
                w = torch.zeros(xt.shape[1], self.n_classes, dtype=torch.float64, requires_grad=True)
                b = torch.zeros(self.n_classes, dtype=torch.float64, requires_grad=True)
                opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, history_size=20,
                                        line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-10)

                def closure() -> torch.Tensor:
                    opt.zero_grad()
                    loss = nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
                    loss.backward()
                    return loss

                opt.step(closure)
                with torch.no_grad():
                    logits = xv @ w + b
                    acc = float((logits.argmax(1) == yv).double().mean())
                    ce = float(nn.functional.cross_entropy(logits, yv))
                if best is None or (acc, -ce) > best:
                    best = (acc, -ce)
                    self.weight, self.bias = w.detach().float(), b.detach().float()
                    self.chosen_l2, self.val_accuracy = l2, acc
        return self

    def logits(self, x: Any) -> torch.Tensor:
        assert self.weight is not None and self.bias is not None, "fit() first"
        xs = self._standardise(x)
        return xs @ self.weight.to(xs.device) + self.bias.to(xs.device)

    def predict(self, x: Any) -> np.ndarray:
        with torch.no_grad():
            return self.logits(x).argmax(1).cpu().numpy()

    def log_proba(self, x: Any) -> torch.Tensor:
        return torch.log_softmax(self.logits(x), dim=1)


__all__ = ["LinearClassifier"]
