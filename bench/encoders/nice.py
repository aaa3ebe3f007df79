"""NICE (Song et al. 2024, "Decoding natural images from EEG for object recognition"), exactly.

Architecture (PROTOCOLS.md section 3; the public NICE-EEG ``Enc_eeg`` + ``Proj_eeg``)::

    x (B, C, T) -> (B, 1, C, T)
    Conv2d(1->40, (1,25)) -> AvgPool2d((1,51), stride (1,5)) -> BN -> ELU       "temporal" stage
    Conv2d(40->40, (C,1)) -> BN -> ELU -> Dropout(0.5)                          "spatial" stage
    Conv2d(40->40, 1x1) -> rearrange 'b e h w -> b (h w) e' -> flatten          (40 * J features)
    Linear(40*J -> D) + Residual[GELU, Linear(D->D), Dropout(0.5)] -> LayerNorm(D)

with J = floor((T - 75) / 5) + 1 (36 for T=250: 1440 features; 6 for T=100; 26 for T=201).
1,802,496 parameters for 63 x 250 at D = 768.

Speed reformulation. Three implementations of the same function with the same parameters
(``impl``; checkpoints are interchangeable; tested equal forward and backward, train and eval):

* ``"literal"``: the published ops, Conv2d + AvgPool2d + Conv2d on NCHW.
* ``"composed"``: the temporal convolution followed by average pooling is one linear map, a single
  stride-5 convolution whose 75-tap kernel is the 25-tap kernel convolved with the 51-tap box
  (1/51). The parameters stay the 25-tap weights; the 75-tap kernel is composed at forward time,
  so gradients reach the same parameters. The bias passes through the average unchanged.
* ``"fast"`` (default): the same composition applied in the other order (linear maps commute):
  the 51-sample box sum first (log2(51) vectorised adds, no parameters), then the 25-tap kernel
  (divided by 51) at stride 5 -- a third of the composed kernel's multiply-adds.

``composed`` and ``fast`` run channels-last GEMMs: the input is read as windows (B, J, C, K) (one
strided copy), the temporal kernel is one matmul to (B, J, C, 40); the (C, 1) spatial convolution
is one matmul (B*J, C*40) @ (C*40, 40) and the 1x1 convolution a (40, 40) matmul: no NCHW
convolution, no pooling pass, no permute copy, and the largest intermediate, (B*J*C, 40), is 5.4x
smaller than the literal (B, 40, C, T-24) convolution output.

The first BatchNorm is folded into the temporal GEMM (``ops.linear_batchnorm_elu``, exact): its
batch statistics follow from the windows' (K+1)^2 second-moment matrix, so the GEMM writes the
normalised features directly and ELU runs in place on them; backward needs the ELU derivative, one
weight-gradient GEMM (two more for the input gradient, ATM-S) and (40, K)-sized algebra -- no pass
over the 46 MB activation for statistics, normalisation or the BatchNorm backward. The running
statistics are updated as ``BatchNorm2d`` does. ``fold_batchnorm = False`` runs the unfolded ops.
In CPU training at one thread without autocast the temporal GEMM, folded BatchNorm, ELU and spatial
GEMM run as one function over cache-sized batch chunks (``fused_block.temporal_spatial``; ``chunked = False``
runs them op by op): the ELU, its derivative and the activation's gradient stay in cache.
The spatial weight is used as a transposed contiguous matrix (its gradient GEMM is then 2x faster
on the CPU); the box sum and the window view have gradients written as their adjoints (``ops.py``).
Dropout masks are drawn in another order than the literal ops (``ops.dropout``), nothing else
differs. ``ci/bench_training.py`` measures ``fast`` against ``literal`` and the machine's floors.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.encoders import ENCODERS
from bench.encoders.base import BrainEncoder
from bench.encoders.fused_block import temporal_spatial
from bench.encoders.ops import (Dropout, batchnorm_affine, elu, linear_batchnorm_elu, sliding_sum,
                                update_running_stats, windows)
from bench.errors import ConfigError

__all__ = ["NICE", "NiceConvBlock", "NiceProjection", "elu", "sliding_sum"]


def _bn_rows(h: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """BatchNorm2d ``bn`` over the last dim of a (N, F) tensor (same statistics as NCHW over B, H, W)."""
    n, f = h.shape
    return bn(h.view(n, f, 1, 1).contiguous(memory_format=torch.channels_last)).view(n, f)


IMPLS = ("fast", "composed", "literal")

#: the chunked training path (``fused_block``) runs at up to this many torch threads (1: what ``--jobs``
#: gives each unit). At 2 threads its small per-chunk GEMMs split badly: 15 % slower per NICE step than
#: op by op on a Xeon, no faster on an EPYC (``ci/bench_training.py``, 72-76 vs 75-78 ms).
CHUNKED_MAX_THREADS = 1


class NiceConvBlock(nn.Module):
    """NICE's convolutional patch embedding: (B, C, T) -> (B, J * n_filters) features.

    Parameter names follow the published ``PatchEmbedding`` (``tsconv.0`` ... ``tsconv.7``,
    ``projection.0``) so NICE-EEG checkpoints map onto it by prefix.
    """

    def __init__(self, n_chans: int, n_times: int, *, n_filters: int = 40, temporal_kernel: int = 25,
                 pool_kernel: int = 51, pool_stride: int = 5, dropout: float = 0.5,
                 impl: Literal["fast", "composed", "literal"] = "fast") -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ConfigError(f"impl must be one of {IMPLS}, got {impl!r}", field="impl")
        span = temporal_kernel + pool_kernel - 1
        if n_times < span:
            raise ConfigError(f"the NICE conv block needs at least {span} samples (kernel {temporal_kernel} + "
                              f"pooling {pool_kernel} - 1), got {n_times}", field="dataset.time_window",
                              fix="use a longer time window or a higher sampling rate")
        self.n_chans, self.n_times, self.n_filters = n_chans, n_times, n_filters
        self.temporal_kernel, self.pool_kernel, self.pool_stride = temporal_kernel, pool_kernel, pool_stride
        self.impl = impl
        #: composed/fast: fold the first BatchNorm into the temporal GEMM (``ops.linear_batchnorm_elu``);
        #: False runs GEMM, BatchNorm and ELU as separate ops (kept for the benchmark's comparison).
        self.fold_batchnorm = True
        #: with fold_batchnorm, CPU training at 1 thread without autocast: the temporal GEMM, BatchNorm, ELU
        #: and spatial GEMM in one pass over cache-sized batch chunks (``fused_block``); False: op by op.
        self.chunked = True
        self.n_windows = (n_times - span) // pool_stride + 1
        self.n_features = self.n_windows * n_filters
        self.tsconv = nn.Sequential(
            nn.Conv2d(1, n_filters, (1, temporal_kernel), (1, 1)),
            nn.AvgPool2d((1, pool_kernel), (1, pool_stride)),
            nn.BatchNorm2d(n_filters),
            nn.ELU(),
            nn.Conv2d(n_filters, n_filters, (n_chans, 1), (1, 1)),
            nn.BatchNorm2d(n_filters),
            nn.ELU(),
            Dropout(dropout),
        )
        self.projection = nn.Sequential(nn.Conv2d(n_filters, n_filters, (1, 1), stride=(1, 1)))

    def composed_kernel(self) -> torch.Tensor:
        """The temporal kernel convolved with the averaging box: (n_filters, kernel + pool - 1)."""
        w = self.tsconv[0].weight.view(self.n_filters, 1, self.temporal_kernel)
        box = w.new_full((1, 1, self.pool_kernel), 1.0 / self.pool_kernel)
        pad = self.pool_kernel - 1
        return F.conv1d(F.pad(w, (pad, pad)), box).view(self.n_filters, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "literal":
            return self.forward_literal(x)
        if self.impl == "composed":
            return self.forward_composed(x)
        return self.forward_fast(x)

    def forward_literal(self, x: torch.Tensor) -> torch.Tensor:
        """The published formulation, op for op."""
        h = self.tsconv(x.unsqueeze(1))                    # (B, F, 1, J)
        h = self.projection(h)                             # (B, F, 1, J)
        return h.flatten(2).transpose(1, 2).flatten(1)     # 'b e h w -> b (h w) e' -> (B, J*F)

    def forward_composed(self, x: torch.Tensor) -> torch.Tensor:
        """Conv + pooling as one stride-5 convolution with the composed 75-tap kernel (one GEMM)."""
        kernel = self.composed_kernel()                                              # (F, 75)
        return self._after_temporal(x.transpose(1, 2), kernel, float(x.detach().mean()))

    def forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        """Box filter first (O(log 51) adds), then the 25-tap kernel / 51 at stride 5 (one GEMM, K = 25).

        Linear maps commute: pool(conv_w(x)) = conv_w(box(x)) sampled every 5, box = 51-sample mean.
        """
        w = self.tsconv[0].weight.view(self.n_filters, self.temporal_kernel) / self.pool_kernel
        summed = sliding_sum(x.transpose(1, 2), self.pool_kernel, dim=1)               # (B, T-50, C)
        return self._after_temporal(summed, w, float(summed.detach().mean()))

    def _after_temporal(self, src: torch.Tensor, kernel: torch.Tensor, shift: float) -> torch.Tensor:
        """Windows of ``src`` (B, T', C) @ kernel (F, K) -> BN -> ELU -> spatial GEMM -> BN -> ELU -> dropout -> 1x1.

        ``shift``: a constant near the windows' mean (conditions the folded statistics; cancels exactly).
        """
        conv_t, bn1, conv_s, bn2, drop = (self.tsconv[0], self.tsconv[2], self.tsconv[4], self.tsconv[5],
                                          self.tsconv[7])
        proj = self.projection[0]
        f, k = kernel.shape
        b, c = src.shape[0], src.shape[2]
        # [f_out, (c, f_in)] contiguous, used transposed: autograd then computes the weight gradient as
        # (grad^T @ h)^T, 2x faster on the CPU than h^T @ grad for this (B*J, C*F) x (B*J, F) shape.
        w_s = conv_s.weight.view(f, f, c).permute(0, 2, 1).reshape(f, c * f)
        if self.fold_batchnorm and self.chunked and bn1.training and src.device.type == "cpu" \
                and not torch.is_autocast_enabled("cpu") and torch.get_num_threads() <= CHUNKED_MAX_THREADS:
            gamma, beta = batchnorm_affine(bn1, kernel)
            h, mean, var = temporal_spatial(src, kernel, conv_t.bias, gamma, beta, bn1.eps, w_s, conv_s.bias,
                                            self.pool_stride, shift)                 # (B*J, F)
            update_running_stats(bn1, mean, var, h.shape[0] * c)
        else:
            wins = windows(src, 1, k, self.pool_stride)                              # (B, J, C, K) view
            j = wins.shape[1]
            if self.fold_batchnorm:
                h = linear_batchnorm_elu(wins, kernel, conv_t.bias, bn1, shift)      # (B*J*C, F)
            else:
                h = torch.addmm(conv_t.bias, wins.reshape(b * j * c, k), kernel.t())
                h = elu(_bn_rows(h, bn1))
            h = torch.addmm(conv_s.bias, h.view(b * j, c * f), w_s.t())             # (B*J, F)
        h = elu(_bn_rows(h, bn2))
        h = drop(h)
        h = torch.addmm(proj.bias, h, proj.weight.view(f, f).t())
        return h.view(b, -1)


class NiceProjection(nn.Sequential):
    """NICE's ``Proj_eeg``: Linear(in -> D) + Residual[GELU, Linear(D -> D), Dropout] -> LayerNorm(D)."""

    def __init__(self, in_features: int, out_features: int, dropout: float = 0.5) -> None:
        super().__init__(
            nn.Linear(in_features, out_features),
            _Residual(nn.Sequential(nn.GELU(), nn.Linear(out_features, out_features), Dropout(dropout))),
            nn.LayerNorm(out_features),
        )


class _Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(x)


@ENCODERS.register("nice")
class NICE(BrainEncoder):
    """NICE brain encoder (see the module docstring).

    Params (``encoder.params``):
        n_filters:    conv filters / patch embedding size (40).
        dropout:      dropout after the spatial conv (0.5).
        proj_dropout: dropout in the residual projection head (0.5).
        impl:         "fast" (default), "composed" or "literal" (published ops): the same function.
    """

    min_times = 75
    non_semantic_params = ("impl",)  # the same function, implemented three ways: not in unit keys

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, n_filters: int = 40, dropout: float = 0.5,
                 proj_dropout: float = 0.5, impl: Literal["fast", "composed", "literal"] = "fast") -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects)
        assert n_times is not None
        self.block = NiceConvBlock(n_chans, n_times, n_filters=n_filters, dropout=dropout, impl=impl)
        self.head = NiceProjection(self.block.n_features, n_outputs, proj_dropout)

    @property
    def impl(self) -> str:
        return self.block.impl

    @impl.setter
    def impl(self, value: str) -> None:
        if value not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {value!r}")
        self.block.impl = value

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.block(self.check_input(x)))
