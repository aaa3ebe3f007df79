"""Small building blocks shared by encoders, written for speed on the CPU (same functions as torch's).

``elu``           ELU(alpha=1) as ``max(x, exp(min(x, 0)) - 1)``, saving only its output (3x faster
                  than ``F.elu`` on the CPU, whose kernel uses a scalar ``expm1``).
``dropout``       inverted dropout drawing its mask with ``rand`` (vectorised) instead of the CPU's
                  per-element ``bernoulli_`` (about 2x faster); ``F.dropout`` on accelerators.
``Dropout``       ``nn.Dropout`` using ``dropout`` (no parameters, so state dicts are unchanged).
``sliding_sum``   sums of L consecutive samples in O(log L) vectorised adds.

Masks are drawn from the global RNG like ``F.dropout``'s (seeded runs stay deterministic), but
not in the same stream, so the masks differ from ``nn.Dropout``'s for the same seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ELUFunction(torch.autograd.Function):
    """ELU(alpha=1) saving only its output: y = x (x > 0), exp(x) - 1 (x <= 0); dy/dx = min(y, 0) + 1."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # ELU(x) = max(x, exp(min(x, 0)) - 1) since exp(x) - 1 >= x everywhere: four vectorised
        # passes and one allocation.
        y = x.clamp(max=0)
        y.exp_()
        y.sub_(1)
        torch.maximum(y, x, out=y)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.addcmul(grad, grad, y.clamp(max=0))


def elu(x: torch.Tensor) -> torch.Tensor:
    """ELU with alpha = 1 (same values and gradients as ``F.elu``)."""
    return _ELUFunction.apply(x)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, True)
    mask = (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * mask


class Dropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)


def sliding_sum(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """Sums of ``length`` consecutive samples along ``dim`` (size n -> n - length + 1).

    Binary doubling: s_1 = x, s_2p[t] = s_p[t] + s_p[t + p], and s_length is the sum of the s_p of
    the set bits of ``length`` at cumulative offsets -- O(log length) vectorised adds, each value a
    plain sum of ``length`` samples (no running-sum cancellation).
    """
    n_out = x.shape[dim] - length + 1
    if length < 1 or n_out < 1:
        raise ValueError(f"cannot sum {length} consecutive samples of a dimension of size {x.shape[dim]}")
    out: torch.Tensor | None = None
    power, p, offset = x, 1, 0
    while p <= length:
        if length & p:
            seg = power.narrow(dim, offset, n_out)
            out = seg if out is None else out + seg
            offset += p
        if 2 * p <= length:
            size = power.shape[dim] - p
            power = power.narrow(dim, 0, size) + power.narrow(dim, p, size)
        p *= 2
    assert out is not None
    return out
