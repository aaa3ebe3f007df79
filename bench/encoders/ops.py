"""Small building blocks shared by encoders, written for speed on the CPU (same functions as torch's).

``elu``           ELU(alpha=1) saving only its output; forward by ``elu_``, backward by ``elu_backward``
                  from the result.
``elu_exp_``      ELU(alpha=1) in place via ``exp``: torch's kernel evaluates ``expm1`` per element,
                  2.4x slower on a Xeon, 3.3x on an EPYC (whose AVX-512 ``expm1`` runs at ~12 ns/element).
``elu_``          ``elu_exp_`` over cache-sized pieces of a whole tensor (one read and one write of it).
``linear_batchnorm_elu``  ``elu(batchnorm(x @ w.T + b))`` with the batch statistics folded into the
                  GEMM (exact; no pass over the activation for the statistics or the BatchNorm backward).
``dropout``       inverted dropout; where 256 p is an integer (0.25, 0.5) one random byte per element
                  (8 per 64-bit draw, ~3x faster than ``rand_like``), else ``rand_like(x) >= p`` (both
                  faster than the CPU's per-element ``bernoulli_``); ``F.dropout`` on accelerators.
``Dropout``       ``nn.Dropout`` using ``dropout`` (no parameters, so state dicts are unchanged).
``sliding_sum``   sums of L consecutive samples in O(log L) vectorised adds (and its adjoint as gradient).
``windows``       ``unfold`` with a gradient of a few strided adds.

Masks are drawn from the global RNG like ``F.dropout``'s (seeded runs stay deterministic), but
not in the same stream, so the masks differ from ``nn.Dropout``'s for the same seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ELUFunction(torch.autograd.Function):
    """ELU(alpha=1) saving only its output (not its input): dy/dx = min(y, 0) + 1.

    Forward is :func:`elu_` into a new tensor; backward is ``elu_backward`` from the result (one pass, half the
    cost of ``addcmul(g, g, y.clamp(max=0))`` on a 46 MB activation at 1 thread).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = elu_(x.contiguous(), torch.empty_like(x, memory_format=torch.contiguous_format))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return _elu_backward(grad, y)


def _elu_backward(grad: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of ELU(alpha=1) from its output ``y``: ``grad * (1 + min(y, 0))``."""
    return torch.ops.aten.elu_backward(grad, 1.0, 1.0, 1.0, True, y)


def _elu_backward_(grad: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`_elu_backward` written into ``grad`` (a buffer the caller owns; no allocation)."""
    return torch.ops.aten.elu_backward.grad_input(grad, 1.0, 1.0, 1.0, True, y, grad_input=grad)


def elu_exp_(x: torch.Tensor, scratch: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """ELU(alpha=1) as ``max(x, exp(min(x, 0)) - 1)`` in four vectorised passes, into ``out`` (default: ``x``).

    ``e^x - 1 >= x`` for every x, with equality only at 0, so the maximum picks ``x`` for x > 0 and
    ``e^x - 1`` otherwise. torch's ELU evaluates ``expm1`` on every element, 2.4x (Xeon) to 3.3x (EPYC)
    slower on the CPU than these passes over a cache-resident chunk; ``e^x - 1`` differs from
    ``expm1(x)`` by at most one rounding of 1 (6e-8 in float32, 1e-16 in float64), the same as float32
    ELU's own error. ``scratch``: a buffer shaped like ``x`` to reuse (else one is allocated).
    """
    t = torch.clamp(x, max=0, out=scratch) if scratch is not None else x.clamp(max=0)
    return torch.maximum(x, t.exp_().sub_(1), out=x if out is None else out)


#: elements per piece of :func:`elu_` (256 KiB of float32: the piece and its scratch stay in L2)
ELU_PIECE = 1 << 16


def elu_(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """ELU(alpha=1) of ``x`` into ``out`` (default: in place) on the CPU: :func:`elu_exp_` piece by
    piece, so its four passes run in cache and the tensor is read once and written once.

    bfloat16/float16 pieces are computed in float32 and rounded once (as torch's kernel does). Off the
    CPU or for non-contiguous tensors, torch's kernel.
    """
    out = x if out is None else out
    if x.device.type != "cpu" or not (x.is_contiguous() and out.is_contiguous()):
        return torch.ops.aten.elu.out(x, out=out) if out is not x else F.elu_(x)
    src, dst = x.view(-1), out.view(-1)
    n = src.numel()
    low = x.dtype in (torch.bfloat16, torch.float16)
    work = torch.empty(min(n, ELU_PIECE), dtype=torch.float32 if low else x.dtype)
    wide = torch.empty_like(work) if low else None
    for i in range(0, n, ELU_PIECE):
        s, d = src[i:i + ELU_PIECE], dst[i:i + ELU_PIECE]
        m = s.numel()
        if wide is None:
            elu_exp_(s, work[:m], out=d)
        else:
            d.copy_(elu_exp_(wide[:m].copy_(s), work[:m]))
    return out


def elu(x: torch.Tensor) -> torch.Tensor:
    """ELU with alpha = 1 (same values and gradients as ``F.elu``)."""
    return _ELUFunction.apply(x)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, True)
    mask = _keep_mask(x, p).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * mask


def _keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask shaped like ``x``, each element True with probability exactly 1 - p.

    Where 256 p is an integer (0.25, 0.5, ...) each element is one random byte compared with 256 p:
    eight bytes per 64-bit draw of the generator over the full int64 range (every byte uniform to
    within 2^-63), compared in one contiguous pass -- about 5x faster than ``rand_like`` on the CPU.
    Otherwise ``rand_like(x) >= p``.
    """
    threshold = p * 256
    if threshold != int(threshold):
        return torch.rand_like(x) >= p
    n = x.numel()
    draws = torch.empty((n + 7) // 8, dtype=torch.int64, device=x.device).random_(-2 ** 63, None)
    return (draws.view(torch.uint8)[:n] >= int(threshold)).view(x.shape)


class Dropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)


class _SlidingSum(torch.autograd.Function):
    """Box sums whose backward is itself a box sum (of the zero-padded gradient), not one slice
    backward (a zero-filled full-size tensor and a copy) per doubling step."""

    @staticmethod
    def forward(ctx, x, length, dim):  # type: ignore[override]
        ctx.length, ctx.dim = length, dim
        return _sliding_sum(x, length, dim)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        length, dim = ctx.length, ctx.dim
        shape = list(grad.shape)
        shape[dim] += 2 * (length - 1)
        padded = grad.new_zeros(shape)
        padded.narrow(dim, length - 1, grad.shape[dim]).copy_(grad)
        return _sliding_sum(padded, length, dim), None, None


def sliding_sum(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """Sums of ``length`` consecutive samples along ``dim`` (size n -> n - length + 1).

    Binary doubling: s_1 = x, s_2p[t] = s_p[t] + s_p[t + p], and s_length is the sum of the s_p of
    the set bits of ``length`` at cumulative offsets -- O(log length) vectorised adds, each value a
    plain sum of ``length`` samples (no running-sum cancellation). The gradient is the box sum of
    the zero-padded output gradient (the adjoint), computed the same way.
    """
    n_out = x.shape[dim] - length + 1
    if length < 1 or n_out < 1:
        raise ValueError(f"cannot sum {length} consecutive samples of a dimension of size {x.shape[dim]}")
    dim = dim % x.dim()
    if torch.is_grad_enabled() and x.requires_grad:
        return _SlidingSum.apply(x, length, dim)
    return _sliding_sum(x, length, dim)


class _Windows(torch.autograd.Function):
    """``x.unfold(dim, size, step)`` with a backward of ``size / step`` strided adds when ``step``
    divides ``size`` (instead of the generic ``unfold_backward``)."""

    @staticmethod
    def forward(ctx, x, dim, size, step):  # type: ignore[override]
        ctx.shape, ctx.dim, ctx.size, ctx.step = x.shape, dim, size, step
        return x.unfold(dim, size, step)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return unfold_adjoint_(grad.new_zeros(ctx.shape), grad, ctx.dim, ctx.size, ctx.step), None, None, None


def unfold_adjoint_(out: torch.Tensor, grad: torch.Tensor, dim: int, size: int, step: int) -> torch.Tensor:
    """``out += `` the adjoint of ``out.unfold(dim, size, step)`` applied to ``grad`` (in place; returns ``out``).

    ``grad`` is shaped like the unfolded view: ``out``'s shape with ``dim`` -> the window count, plus
    ``size`` last; ``step`` must divide ``size`` (``size / step`` strided adds).
    """
    n_win = grad.shape[dim]
    q = size // step
    assert q * step == size, "unfold_adjoint_ needs step to divide size"
    # Position dim*: window j, offset k = a * step + r -> sample (j + a) * step + r.
    view = out.narrow(dim, 0, (n_win + q - 1) * step).unflatten(dim, (n_win + q - 1, step))
    g = grad.unflatten(-1, (q, step))                                                   # (..., W, ..., q, step)
    for a in range(q):
        view.narrow(dim, a, n_win).add_(g.select(-2, a).movedim(-1, dim + 1))         # (..., W, step, ...)
    return out


def windows(x: torch.Tensor, dim: int, size: int, step: int) -> torch.Tensor:
    """``x.unfold(dim, size, step)`` (a view) with a faster gradient when ``step`` divides ``size``."""
    dim = dim % x.dim()
    if size % step == 0 and torch.is_grad_enabled() and x.requires_grad:
        return _Windows.apply(x, dim, size, step)
    return x.unfold(dim, size, step)


#: sliding sums over larger CPU tensors run per batch chunk of about this size (the doubling adds then
#: stay in cache: 2x faster on a 128 x 63 x 250 batch than passes over memory; 256 KiB measured best)
SLIDING_SUM_CHUNK_BYTES = 1 << 18


def _sliding_sum(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """The binary-doubling box sum of :func:`sliding_sum` (no argument checks), per batch chunk."""
    item_bytes = x[0].numel() * x.element_size() if x.dim() > 1 and x.shape[0] else 0
    if dim == 0 or x.device.type != "cpu" or x.shape[0] < 2 or item_bytes * x.shape[0] <= SLIDING_SUM_CHUNK_BYTES:
        return _sliding_sum_whole(x, length, dim)
    shape = list(x.shape)
    shape[dim] -= length - 1
    order = sorted(range(x.dim()), key=lambda d: -x.stride(d))          # x's memory order, outermost first
    out = x.new_empty([shape[d] for d in order]).permute([order.index(d) for d in range(x.dim())])
    items = max(1, SLIDING_SUM_CHUNK_BYTES // item_bytes)
    for b0 in range(0, x.shape[0], items):
        out[b0:b0 + items].copy_(_sliding_sum_whole(x[b0:b0 + items], length, dim))
    return out


def _sliding_sum_whole(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """The binary-doubling box sum over the whole tensor."""
    n_out = x.shape[dim] - length + 1
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


# ------------------------------------------------------------------ linear map + BatchNorm + ELU, fused
def _fold_batch_norm(weight: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, gram: torch.Tensor,
                     eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fold training-mode BatchNorm into a linear map, from the second moments of its inputs.

    ``gram`` is the (K+1, K+1) matrix ``[Xc, 1]^T [Xc, 1] / N`` of the shifted inputs ``Xc`` (rows) with
    a ones column: its last column holds the input means ``mc`` and ``cov = gram[:K, :K] - mc mc^T``.
    The features ``h = Xc w_f + b_f`` have the batch mean ``w_f . mc + b_f`` and the biased batch
    variance ``w_f cov w_f^T``, so ``BN(h) = [Xc, 1] @ waug^T`` with ``waug = [w_f s_f | beta_f - s_f w_f . mc]``
    and ``s_f = gamma_f / sqrt(var_f + eps)`` (the bias b and any constant shift of X drop out).
    Returns ``(waug (F, K+1), w . mc (F,), var (F,))``; all small tensors, differentiable.
    """
    k = weight.shape[1]
    mc = gram[:k, k]
    cov = gram[:k, :k] - torch.outer(mc, mc)
    var = ((weight @ cov) * weight).sum(1)
    scale = gamma * torch.rsqrt(var + eps)
    w_folded = weight * scale[:, None]
    wm = weight @ mc
    return torch.cat([w_folded, (beta - scale * wm)[:, None]], 1), wm, var


def _fold_batch_norm_vjp(weight: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, gram: torch.Tensor,
                         eps: float, needs: tuple[bool, bool, bool, bool]):
    """For a custom backward: ``(waug, vjp)`` of :func:`_fold_batch_norm`, recomputed with a graph.

    ``needs`` says which of (weight, gamma, beta, gram) want a gradient; ``vjp(g_waug)`` returns their
    gradients in that order (None where not wanted). ``waug`` is detached.
    """
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(need) for t, need in zip((weight, gamma, beta, gram), needs)]
        waug, _, _ = _fold_batch_norm(*leaves, eps)
    wanted = [t for t in leaves if t.requires_grad]

    def vjp(g_waug: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grads = dict(zip(map(id, wanted), torch.autograd.grad(waug, wanted, g_waug))) if wanted else {}
        return tuple(grads.get(id(t)) for t in leaves)

    return waug.detach(), vjp


class _LinearBatchNormELU(torch.autograd.Function):
    """``ELU(BatchNorm_train(X @ W^T + b))`` over the rows of X, with the normalisation folded into the GEMM.

    Forward: one copy of X (shifted by a constant, with a ones column), its (K+1)^2 Gram matrix (the
    batch statistics of every feature follow from it), one GEMM that writes the *normalised* features
    and the ELU in place. Backward: the ELU derivative from the saved output, one GEMM for the folded
    weights' gradient and, when X needs one, two for X's; the BatchNorm algebra runs on (F, K)-sized
    tensors only. No pass over the (N, F) activation for the statistics, the normalisation or the
    BatchNorm backward. Same function and gradients as the literal ops (tested in float64).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, shift, eps):  # type: ignore[override]
        k = x.shape[-1]
        n = x.numel() // k
        # X copied in the weights' dtype (float32 under autocast): a bf16 Gram would round the variances.
        xa = x.new_empty(n, k + 1, dtype=weight.dtype)
        xa[:, k] = 1
        torch.sub(x, shift, out=xa[:, :k].view(x.shape))
        with torch.autocast(x.device.type, enabled=False):
            gram = torch.mm(xa.t(), xa).div_(n)
            waug, wm, var = _fold_batch_norm(weight, gamma, beta, gram, eps)
        y = elu_(torch.mm(xa, waug.t()))              # autocast (if on) picks the GEMM's dtype
        ctx.save_for_backward(xa, y, weight, gamma, beta, gram)
        ctx.eps, ctx.x_shape, ctx.x_dtype = eps, x.shape, x.dtype
        mean = wm + shift * weight.sum(1) + bias     # batch mean of h = X W^T + b (running stats)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):  # type: ignore[override]
        xa, y, weight, gamma, beta, gram = ctx.saved_tensors
        gz = _elu_backward(grad_y, y)
        xg = xa if xa.dtype == gz.dtype else xa.to(gz.dtype)
        g_waug = torch.mm(gz.t(), xg).to(weight.dtype)                   # (F, K+1)
        needs = tuple(ctx.needs_input_grad[i] for i in (1, 3, 4, 0))   # weight, gamma, beta, gram (from x)
        waug, vjp = _fold_batch_norm_vjp(weight, gamma, beta, gram, ctx.eps, needs)
        g_weight, g_gamma, g_beta, g_gram = vjp(g_waug)
        g_x = None
        if ctx.needs_input_grad[0]:
            n, k1 = xa.shape
            sym = (g_gram + g_gram.t()).div_(n)                          # d(Xa^T Xa / n) -> Xa (G + G^T) / n
            g_xa = torch.mm(xa, sym.to(xa.dtype))
            g_xa.addmm_(gz.to(xa.dtype), waug.to(xa.dtype))
            g_x = g_xa[:, :k1 - 1].view(ctx.x_shape).to(ctx.x_dtype)
        g_bias = torch.zeros_like(weight[:, 0]) if ctx.needs_input_grad[2] else None  # b drops out of BN(h)
        return g_x, g_weight, g_bias, g_gamma, g_beta, None, None


def linear_batchnorm_elu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         bn: nn.modules.batchnorm._BatchNorm, shift: float | None = None) -> torch.Tensor:
    """``elu(bn(x @ weight.T + bias))`` over the feature dim of (..., K) rows -> (N, F), N = prod(...).

    ``bn`` is a BatchNorm over the F output features (its statistics over all N rows, as a
    BatchNorm2d over (B, F, H, W) with H * W * B = N). In training mode (or without running
    statistics) the batch statistics are folded into the GEMM (:class:`_LinearBatchNormELU`) and the
    running statistics updated exactly as ``bn`` would (momentum, unbiased variance,
    ``num_batches_tracked``); in eval mode the running statistics are folded into the weights.
    ``shift``: a constant near the mean of ``x`` (conditions the float32 statistics; it cancels
    exactly); default ``x.mean()``.
    """
    f, k = weight.shape
    gamma, beta = batchnorm_affine(bn, weight)
    b = bias if bias is not None else torch.zeros(f, dtype=weight.dtype, device=weight.device)
    use_batch_stats = bn.training or bn.running_mean is None
    if not use_batch_stats:
        scale = gamma * torch.rsqrt(bn.running_var + bn.eps)
        z = torch.addmm(beta + (b - bn.running_mean) * scale, x.reshape(-1, k), (weight * scale[:, None]).t())
        return elu(z)
    # A constant shift conditions the Gram matrix (it cancels exactly in BN(h)).
    if shift is None:
        shift = float(x.detach().mean()) if x.numel() else 0.0
    y, mean, var = _LinearBatchNormELU.apply(x, weight, b, gamma, beta, shift, bn.eps)
    update_running_stats(bn, mean, var, x.numel() // k)
    return y


def batchnorm_affine(bn: nn.modules.batchnorm._BatchNorm, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gamma, beta)`` of ``bn``: its parameters, or ones/zeros shaped like ``like``'s rows without affine."""
    if bn.affine:
        return bn.weight, bn.bias
    return torch.ones_like(like[:, 0]), torch.zeros_like(like[:, 0])


def update_running_stats(bn: nn.modules.batchnorm._BatchNorm, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
    """Update ``bn``'s running statistics from a training batch's mean and biased variance over ``n`` rows,
    exactly as ``bn`` itself would (momentum or cumulative average, unbiased variance, batch count)."""
    if not (bn.training and bn.track_running_stats and bn.running_mean is not None):
        return
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        momentum = (1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum)
        bn.running_mean.mul_(1 - momentum).add_(mean.to(bn.running_mean.dtype), alpha=momentum)
        bn.running_var.mul_(1 - momentum).add_(var.to(bn.running_var.dtype) * (n / max(n - 1, 1)),
                                               alpha=momentum)
