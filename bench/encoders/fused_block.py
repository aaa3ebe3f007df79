"""NICE's temporal stage with its (B*J*C, F) activation handled in cache-sized chunks (CPU training).

``temporal_spatial(src, ...)`` computes, for the NICE conv block in training mode,

    z = spatial(ELU(BatchNorm_train(windows(src) @ W^T + b)))            (B * J, F)

where ``windows(src)`` are the (K-sample, stride ``step``) windows of ``src`` (B, T, C) along time,
``BatchNorm_train`` normalises each of the F features with its batch statistics over all B * J * C
rows, and ``spatial`` is the (C, 1) convolution as one GEMM over (c, f) of each (b, j). The same
function as ``ops.linear_batchnorm_elu`` followed by the spatial ``addmm``, but the activation
(46 MB for a 128 x 63 x 250 batch) is written once and read once, and its gradient never exists
in memory as a whole:

* the windows are never materialised: each chunk copies its windows (shifted, with a ones column)
  from ``src`` into a cache-resident buffer; the batch statistics come from the windows' (K+1)^2
  Gram matrix (``ops._fold_batch_norm``), computed from lagged products of ``src`` (``_window_gram``);
* forward, per chunk of a few batch items: the folded GEMM writes the normalised features, ELU
  runs on them in cache (``ops.elu_exp_``), the spatial GEMM reads them from cache; the ELU output
  is kept for the backward;
* backward, per chunk: the activation gradient (spatial GEMM), the ELU derivative in place, the
  spatial and folded weights' gradients (accumulated) and, when ``src`` needs one, the windows'
  adjoint -- all on the chunk in cache. A second pass adds the Gram matrix's share of ``src``'s
  gradient (it needs the whole batch's weight gradient first).

Tested equal, outputs and every gradient, to the literal ops in float64 (``tests/encoders``);
``ci/bench_training.py`` measures it. At more than one torch thread, under autocast and on accelerators
the per-op path is used (``NiceConvBlock._after_temporal``).
"""

from __future__ import annotations

import torch

from bench.encoders.ops import _elu_backward_, _fold_batch_norm, _fold_batch_norm_vjp, elu_exp_

#: bytes of activation per chunk: L2-sized on current CPUs (1 MiB measured best on the dev machine)
CHUNK_BYTES = 1 << 20


def chunk_items(rows_per_item: int, n_features: int, element_size: int) -> int:
    """Batch items per chunk so that one chunk's (rows, F) activation is about :data:`CHUNK_BYTES`
    (read at call time), at least one item."""
    return max(1, CHUNK_BYTES // max(1, rows_per_item * n_features * element_size))


class _TemporalSpatial(torch.autograd.Function):
    """See the module docstring. Returns ``(z, batch mean of h, biased batch variance of h)``."""

    @staticmethod
    def forward(ctx, src, weight, bias, gamma, beta, w_s, b_s, shift, eps, step, items):  # type: ignore[override]
        b, t, c = src.shape
        f, k = weight.shape
        j = (t - k) // step + 1
        rows = j * c                                                   # activation rows per batch item
        n = b * rows
        gram = _window_gram(src, k, step, shift).div_(n)
        buf = _window_buffer(src, items, rows, k)
        waug, wm, var = _fold_batch_norm(weight, gamma, beta, gram, eps)
        waug_t = waug.t().contiguous()
        w_s_t = w_s.t().contiguous()                                  # (C*F, F) contiguous: a faster GEMM
        y = src.new_empty(n, f)
        z = src.new_empty(b * j, f)
        scratch = src.new_empty(min(items, b) * rows, f)
        for r0, r1 in _row_chunks(b, items, rows):
            xa = _shifted_windows(src, r0 // rows, r1 // rows, step, shift, buf)
            yc = y[r0:r1]
            elu_exp_(torch.mm(xa, waug_t, out=yc), scratch[:r1 - r0])
            torch.addmm(b_s, yc.view(-1, c * f), w_s_t, out=z[r0 // c:r1 // c])
        ctx.save_for_backward(src, y, weight, gamma, beta, gram, w_s)
        ctx.shift, ctx.eps, ctx.step, ctx.items = shift, eps, step, items
        mean = wm + shift * weight.sum(1) + bias                      # batch mean of h = X W^T + b
        ctx.mark_non_differentiable(mean, var)
        return z, mean, var

    @staticmethod
    def backward(ctx, g_z, _g_mean, _g_var):  # type: ignore[override]
        src, y, weight, gamma, beta, gram, w_s = ctx.saved_tensors
        shift, step, items = ctx.shift, ctx.step, ctx.items
        b, t, c = src.shape
        f, k = weight.shape
        rows = ((t - k) // step + 1) * c
        n = y.shape[0]
        need_src = ctx.needs_input_grad[0]
        g_z = g_z.contiguous()
        needs = tuple(ctx.needs_input_grad[i] for i in (1, 3, 4, 0))   # weight, gamma, beta, gram (from src)
        waug, vjp = _fold_batch_norm_vjp(weight, gamma, beta, gram, ctx.eps, needs)
        w_x_t = waug[:, :k].t().contiguous()
        buf = _window_buffer(src, items, rows, k)
        g_buf = src.new_empty(min(items, b) * rows, f)
        g_waug = src.new_zeros(f, k + 1)
        g_w_s = torch.zeros_like(w_s)
        # (B, T, C) contiguous: the windows' adjoint then adds runs of C contiguous values (_add_window_sums)
        g_src = src.new_zeros(src.shape) if need_src else None
        for r0, r1 in _row_chunks(b, items, rows):
            xa = _shifted_windows(src, r0 // rows, r1 // rows, step, shift, buf)
            yc, g_zc = y[r0:r1], g_z[r0 // c:r1 // c]
            g_w_s.addmm_(g_zc.t(), yc.view(-1, c * f))
            g_h = torch.mm(g_zc, w_s, out=g_buf[:r1 - r0].view(-1, c * f)).view(-1, f)
            _elu_backward_(g_h, yc)                                      # now the gradient of BN(h)
            g_waug.addmm_(g_h.t(), xa)
            if g_src is not None:
                _add_window_sums(g_src[r0 // rows:r1 // rows], torch.mm(w_x_t, g_h.t()), step)
        g_weight, g_gamma, g_beta, g_gram = vjp(g_waug)
        if g_src is not None and g_gram is not None:
            sym_t = ((g_gram + g_gram.t()) / n)[:, :k].t().contiguous()  # d(Xa^T Xa / n) -> Xa (G + G^T) / n
            for r0, r1 in _row_chunks(b, items, rows):
                xa = _shifted_windows(src, r0 // rows, r1 // rows, step, shift, buf)
                _add_window_sums(g_src[r0 // rows:r1 // rows], torch.mm(sym_t, xa.t()), step)
        g_bias = torch.zeros_like(weight[:, 0]) if ctx.needs_input_grad[2] else None  # b drops out of BN(h)
        g_b_s = g_z.sum(0) if ctx.needs_input_grad[6] else None
        return g_src, g_weight, g_bias, g_gamma, g_beta, g_w_s, g_b_s, None, None, None, None


def _window_gram(src: torch.Tensor, k: int, step: int, shift: float, block: int | None = None) -> torch.Tensor:
    """``Xa^T Xa`` of all the windows (rows (b, j, c), columns ``src[b, step*j + k', c] - shift`` for
    k' < K, then 1): the (K+1)^2 second-moment matrix, without copying the windows.

    Windows overlap (K samples every ``step``), so every entry is a sum of lagged products of the
    time series: with ``x`` time-major as (T, B*C), ``p[t, d] = x[t] . x[t + d]`` for d < K comes from
    one GEMM per ``block`` time steps (its band of diagonals), and ``G[k1, k1 + d] = sum_j
    p[step*j + k1, d]``; the ones column holds the windows' sums. A third of the FLOPs of
    ``Xa^T Xa`` and no (B*J*C, K) copy (3x faster for NICE).
    """
    b, t, c = src.shape
    j = (t - k) // step + 1
    used = step * (j - 1) + k                                          # samples any window reaches
    block = block or k
    nb = -(-used // block)
    z = src.new_zeros(nb * block + k - 1, b * c)                       # time-major; zero rows past `used`
    torch.sub(src[:, :used].permute(1, 0, 2), shift, out=z[:used].view(used, b, c))
    p = src.new_empty(nb * block, k)
    for t0 in range(0, nb * block, block):
        q = torch.mm(z[t0:t0 + block], z[t0:t0 + block + k - 1].t())  # (block, block + K - 1)
        p[t0:t0 + block] = q.as_strided((block, k), (q.stride(0) + 1, 1))  # q[i, i + d]
    lagged = p.as_strided((j, k, k), (step * k, k, 1)).sum(0)            # [k1, d] = sum_j p[step j + k1, d]
    k1 = torch.arange(k, device=src.device)[:, None].expand(k, k)
    k2 = k1 + torch.arange(k, device=src.device)[None, :]
    upper = k2 < k
    gram = src.new_zeros(k + 1, k + 1)
    g = gram[:k, :k]
    g[k1[upper], k2[upper]] = lagged[upper]
    g += g.triu(1).t()
    sums = z[:used].sum(1).as_strided((j, k), (step, 1)).sum(0)        # sum over windows of each column
    gram[:k, k] = sums
    gram[k, :k] = sums
    gram[k, k] = b * j * c
    return gram


def _row_chunks(b: int, items: int, rows: int) -> list[tuple[int, int]]:
    """Activation row ranges of ``items`` batch items each (``rows`` rows per item; the last may be shorter)."""
    return [(b0 * rows, min(b, b0 + items) * rows) for b0 in range(0, b, items)]


def _add_window_sums(out: torch.Tensor, grad_t: torch.Tensor, step: int) -> None:
    """``out[b, step * j + k, c] += grad_t[k, (b, j, c)]``: the adjoint of the windows, in place.

    ``out`` (b, T, C) contiguous; ``grad_t`` (K, b * J * C), the windows' gradient transposed (a GEMM
    writes it so at no extra cost), so every add runs over C contiguous values in both operands --
    3x faster than adding (..., K)-shaped rows, whose contiguous runs are ``step`` values long.
    """
    b, t, c = out.shape
    k = grad_t.shape[0]
    j = grad_t.shape[1] // (b * c)
    g = grad_t.view(k, b, j, c)
    if k % step == 0:
        q = k // step                           # k = a * step + r -> sample (j + a) * step + r
        view = out.narrow(1, 0, (j + q - 1) * step).view(b, j + q - 1, step, c)
        parts = g.view(q, step, b, j, c)
        for a in range(q):
            view.narrow(1, a, j).add_(parts[a].permute(1, 2, 0, 3))  # (b, J, step, C)
        return
    for kk in range(k):
        out[:, kk:kk + (j - 1) * step + 1:step].add_(g[kk])


def _window_buffer(src: torch.Tensor, items: int, rows: int, k: int) -> torch.Tensor:
    """A (rows of one chunk, K+1) buffer whose last column is 1 (set once; the windows overwrite the rest)."""
    buf = src.new_empty(min(items, src.shape[0]) * rows, k + 1)
    buf[:, k] = 1
    return buf


def _shifted_windows(src: torch.Tensor, b0: int, b1: int, step: int, shift: float,
                     buf: torch.Tensor) -> torch.Tensor:
    """Items ``b0:b1``'s windows minus ``shift``, rows (b, j, c), copied into ``buf``'s first K columns
    (in cache: cheaper than re-reading a stored copy from memory): (rows, K+1), last column 1."""
    k = buf.shape[1] - 1
    win = src[b0:b1].unfold(1, k, step)                               # (b', J, C, K) view
    xa = buf[:win.shape[0] * win.shape[1] * win.shape[2]]
    torch.sub(win, shift, out=xa[:, :k].view(win.shape))
    return xa


def temporal_spatial(src: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gamma: torch.Tensor,
                     beta: torch.Tensor, eps: float, w_s: torch.Tensor, b_s: torch.Tensor, step: int,
                     shift: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused temporal stage (module docstring): ``(z (B*J, F), mean (F,), var (F,))``.

    ``src`` (B, T, C); ``weight`` (F, K) and ``bias`` (F,) the temporal kernel; ``gamma``/``beta``/``eps``
    the first BatchNorm's affine parameters; ``w_s`` (F, C*F) the spatial kernel as a matrix over
    (c, f_in) and ``b_s`` its bias; ``shift`` a constant near the windows' mean (it cancels exactly).
    ``mean``/``var`` are the batch statistics of the pre-BatchNorm features, for the running statistics.
    """
    b, t, c = src.shape
    f, k = weight.shape
    rows = ((t - k) // step + 1) * c
    items = chunk_items(rows, f, src.element_size())
    return _TemporalSpatial.apply(src, weight, bias, gamma, beta, w_s, b_s, float(shift), eps, step, items)
