"""NICE: published size, flatten sizes, and the speed reformulation is the same function."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.encoders import n_parameters
from bench.encoders.nice import NICE, NiceConvBlock
from bench.encoders.ops import dropout, elu, sliding_sum


def make(n_chans=63, n_times=250, d=768, **kw) -> NICE:
    torch.manual_seed(0)
    return NICE(n_chans=n_chans, n_times=n_times, sfreq=250.0, n_outputs=d, **kw)


def test_parameter_count_matches_the_paper():
    # 1040 + 80 + 100840 + 80 + 1640 (conv block) + 1106688 + 590592 + 1536 (projection head)
    assert n_parameters(make()) == 1_802_496


@pytest.mark.parametrize("shape,features", [((63, 250), 1440), ((17, 100), 240), ((271, 201), 1040)])
def test_flatten_size_from_shape(shape, features):
    block = NiceConvBlock(*shape)
    assert block.n_features == features
    for impl in ("fast", "composed", "literal"):
        block.impl = impl
        assert block(torch.randn(2, *shape)).shape == (2, features)


def test_composed_kernel_is_conv_then_average_pool():
    block = NiceConvBlock(1, 200)
    x = torch.randn(3, 1, 1, 200)
    conv = block.tsconv[0]
    literal = F.avg_pool2d(F.conv2d(x, conv.weight, conv.bias), (1, 51), (1, 5))          # (3, 40, 1, J)
    kernel = block.composed_kernel()
    assert kernel.shape == (40, 75)
    fused = F.conv2d(x, kernel.view(40, 1, 1, 75), conv.bias, stride=(1, 5))
    torch.testing.assert_close(fused, literal, atol=1e-6, rtol=1e-5)


def _no_dropout(model: NICE) -> NICE:
    model.block.tsconv[7].p = 0.0
    model.head[1].fn[2].p = 0.0
    return model


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("shape", [(63, 250), (17, 100), (271, 201)])
def test_reformulation_equals_literal(mode, shape):
    model = _no_dropout(make(*shape, d=64)).double()
    getattr(model, mode)()
    x = torch.randn(6, *shape, dtype=torch.float64)
    outs, grads = [], []
    for impl in ("literal", "composed", "fast"):
        model.impl = impl
        out = model(x)
        outs.append(out)
        grads.append(torch.autograd.grad(out.sin().mean(), list(model.parameters())))
    names = [n for n, _ in model.named_parameters()]
    for out, grad in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(out, outs[0], atol=1e-10, rtol=1e-9)
        for name, ga, gb in zip(names, grads[0], grad):
            torch.testing.assert_close(gb, ga, atol=1e-10, rtol=1e-7, msg=name)


def test_input_gradients_match():
    # ATM-S feeds transformer outputs into the block: the gradient w.r.t. the input must match too.
    block = NiceConvBlock(17, 100, dropout=0.0).double()
    x = torch.randn(4, 17, 100, dtype=torch.float64, requires_grad=True)
    grads = []
    for impl in ("literal", "composed", "fast"):
        block.impl = impl
        grads.append(torch.autograd.grad(block(x).sin().sum(), x)[0])
    torch.testing.assert_close(grads[1], grads[0])
    torch.testing.assert_close(grads[2], grads[0])


@pytest.mark.parametrize("length", [1, 2, 3, 25, 51, 64])
def test_sliding_sum(length):
    x = torch.randn(2, 3, 100, dtype=torch.float64)
    torch.testing.assert_close(sliding_sum(x, length, 2), x.unfold(2, length, 1).sum(-1))


@pytest.mark.parametrize("impl", ["fast", "composed"])
def test_reformulation_float32_within_1e5_and_same_running_stats(impl):
    a, b = make(d=128), make(d=128)
    b.load_state_dict(a.state_dict())
    a.impl, b.impl = "literal", impl
    x = torch.randn(8, 63, 250)
    a.train(), b.train()
    a(x), b(x)  # one training-mode pass updates the BatchNorm running statistics
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(vb, va, atol=1e-5, rtol=1e-4, msg=k)
    a.eval(), b.eval()
    with torch.no_grad():
        assert (a(x) - b(x)).abs().max() < 1e-5


def test_checkpoints_are_interchangeable_between_impls():
    fast = make(17, 100, d=32)
    literal = make(17, 100, d=32, impl="literal")
    assert fast.state_dict().keys() == literal.state_dict().keys()
    literal.load_state_dict(fast.state_dict(), strict=True)


def test_elu_matches_torch():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64, requires_grad=True)
    ours = elu(x)
    ref = F.elu(x)
    torch.testing.assert_close(ours, ref)
    g1, = torch.autograd.grad(ours.sum(), x)
    g2, = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g1, g2)


def test_fast_dropout_statistics():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.25, True)
    values = y.unique()
    assert len(values) == 2 and values[0] == 0 and float(values[1]) == pytest.approx(1 / 0.75)
    assert abs(float((y == 0).float().mean()) - 0.25) < 0.01
    assert torch.equal(dropout(x, 0.25, False), x)


# ---------------------------------------------------------------- folded BatchNorm + ELU (ops.linear_batchnorm_elu)
def _literal_bn_elu(x, weight, bias, bn):
    h = x.reshape(-1, weight.shape[1]) @ weight.t() + bias
    return F.elu(bn(h.view(*h.shape, 1, 1)).view_as(h))


@pytest.mark.parametrize("offset", [0.0, 50.0])   # a large common offset: the shift keeps float32 statistics exact
def test_folded_batchnorm_elu_equals_literal_float64_with_gradients(offset):
    from bench.encoders.ops import linear_batchnorm_elu

    torch.manual_seed(0)
    bns = [torch.nn.BatchNorm2d(7).double() for _ in range(2)]
    with torch.no_grad():
        bns[0].weight.uniform_(0.5, 1.5)
        bns[0].bias.uniform_(-0.5, 0.5)
    bns[1].load_state_dict(bns[0].state_dict())
    base = (torch.randn(4, 3, 5, 6, dtype=torch.float64) + offset)
    weight = torch.randn(7, 6, dtype=torch.float64)
    bias = torch.randn(7, dtype=torch.float64)
    outs, grads = [], []
    for fn, bn in ((_literal_bn_elu, bns[0]), (linear_batchnorm_elu, bns[1])):
        leaves = [t.clone().requires_grad_(True) for t in (base, weight, bias)]
        x = leaves[0].transpose(1, 2)                # a non-contiguous input, as the unfold views are
        y = fn(x, leaves[1], leaves[2], bn)
        outs.append(y)
        params = leaves + [bn.weight, bn.bias]
        grads.append(torch.autograd.grad((y.sin() * torch.linspace(0, 1, 7, dtype=y.dtype)).sum(), params))
    torch.testing.assert_close(outs[1], outs[0], atol=1e-12, rtol=1e-10)
    for name, ga, gb in zip(("x", "weight", "bias", "gamma", "beta"), *grads):
        torch.testing.assert_close(gb, ga, atol=1e-10, rtol=1e-8, msg=name)
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(bns[1], k), getattr(bns[0], k), msg=k)
    bns[0].eval(), bns[1].eval()
    with torch.no_grad():
        torch.testing.assert_close(linear_batchnorm_elu(base, weight, bias, bns[1]),
                                   _literal_bn_elu(base, weight, bias, bns[0]))


def test_folded_batchnorm_float32_with_a_dc_offset_stays_accurate():
    from bench.encoders.ops import linear_batchnorm_elu

    torch.manual_seed(1)
    bn64, bn32 = torch.nn.BatchNorm2d(40).double(), torch.nn.BatchNorm2d(40)
    x = torch.randn(2000, 25, dtype=torch.float64) * 0.01 + 3.0          # mean / std = 300
    w = torch.randn(40, 25, dtype=torch.float64)
    ref = _literal_bn_elu(x, w, torch.zeros(40, dtype=torch.float64), bn64)
    ours = linear_batchnorm_elu(x.float(), w.float(), None, bn32)
    assert (ours.double() - ref).abs().max() < 1e-3


def test_nice_impls_agree_under_bf16_autocast():
    a = make(17, 100, d=32)
    b = make(17, 100, d=32, impl="literal")
    b.load_state_dict(a.state_dict())
    _no_dropout(a), _no_dropout(b)
    x = torch.randn(16, 17, 100)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ya, yb = a(x), b(x)
    ya.float().sum().backward()
    assert ya.dtype == yb.dtype and torch.isfinite(ya).all()
    assert (ya.float() - yb.float()).abs().max() < 0.1                  # bf16 rounding, same function
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in a.parameters() if p.requires_grad)


def test_sliding_sum_and_windows_gradients():
    from bench.encoders.ops import windows

    x = torch.randn(2, 30, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: sliding_sum(t, 7, 1), (x,))
    assert torch.autograd.gradcheck(lambda t: windows(t, 1, 6, 3), (x,))
    torch.testing.assert_close(windows(x, 1, 6, 3), x.unfold(1, 6, 3))


@pytest.mark.parametrize("p", [0.25, 0.5, 0.1])
def test_dropout_keep_probability_is_exact_in_expectation(p):
    torch.manual_seed(0)
    y = dropout(torch.ones(400_000), p, True)
    assert abs(float((y == 0).float().mean()) - p) < 0.004
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------------- the chunked temporal stage (fused_block)
@pytest.fixture
def one_thread():
    """The chunked path runs at one torch thread (the --jobs default)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 17 * 40 * 8 * 7, None])   # 1 item, 3 items (uneven), default
@pytest.mark.parametrize("kernel,stride", [(25, 5), (24, 5)])              # stride divides the kernel, or not
def test_chunked_block_equals_literal_in_float64_with_input_gradients(monkeypatch, one_thread, chunk_bytes, kernel,
                                                                        stride):
    import bench.encoders.fused_block as fused

    if chunk_bytes is not None:
        monkeypatch.setattr(fused, "CHUNK_BYTES", chunk_bytes)
    torch.manual_seed(0)
    blocks = [NiceConvBlock(17, 120, dropout=0.0, temporal_kernel=kernel, pool_stride=stride).double().train()
              for _ in range(3)]
    with torch.no_grad():
        blocks[0].tsconv[2].weight.uniform_(0.5, 1.5)
        blocks[0].tsconv[2].bias.uniform_(-0.5, 0.5)
    for block in blocks[1:]:
        block.load_state_dict(blocks[0].state_dict())
    blocks[0].impl = "literal"
    blocks[2].chunked = False
    x = torch.randn(7, 17, 120, dtype=torch.float64) + 3.0
    calls = []
    monkeypatch.setattr(fused._TemporalSpatial, "apply", _spy(fused._TemporalSpatial.apply, calls))
    outs, grads = [], []
    for block in blocks:
        xi = x.clone().requires_grad_(True)
        out = block(xi)
        outs.append(out)
        grads.append(torch.autograd.grad((out.sin() * torch.linspace(0, 1, out.shape[1])).sum(),
                                         [xi] + list(block.parameters())))
    assert len(calls) == 1                                      # only the chunked block took the fused path
    names = ["x"] + [n for n, _ in blocks[0].named_parameters()]
    for out, grad in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(out, outs[0], atol=1e-10, rtol=1e-9)
        for name, ga, gb in zip(names, grads[0], grad):
            torch.testing.assert_close(gb, ga, atol=1e-10, rtol=1e-7, msg=name)
    for k, v in blocks[0].state_dict().items():                 # running statistics as BatchNorm2d's
        torch.testing.assert_close(blocks[1].state_dict()[k], v, msg=k)


def _spy(fn, calls):
    def wrapped(*args):
        calls.append(1)
        return fn(*args)
    return wrapped


def test_chunked_block_runs_only_in_one_thread_cpu_training_without_autocast(monkeypatch, one_thread):
    import bench.encoders.fused_block as fused

    calls = []
    monkeypatch.setattr(fused._TemporalSpatial, "apply", _spy(fused._TemporalSpatial.apply, calls))
    block = NiceConvBlock(5, 100)
    x = torch.randn(3, 5, 100)
    block.eval()(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        block.train()(x)
    torch.set_num_threads(2)
    block(x)
    assert calls == []
    torch.set_num_threads(1)
    block(x)
    assert calls == [1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_elu_via_exp_matches_torch(dtype):
    from bench.encoders.ops import elu_exp_

    x = torch.cat([torch.linspace(-30, 10, 20001, dtype=dtype), torch.tensor([0.0, -1e-30, 1e-30], dtype=dtype)])
    ref = F.elu(x.double())
    tol = 2.5e-7 if dtype == torch.float32 else 1e-15
    assert (elu_exp_(x.clone()).double() - ref).abs().max() <= tol
    assert (elu_exp_(x.clone(), torch.empty_like(x)).double() - ref).abs().max() <= tol


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_elu_in_pieces_matches_torch(dtype, monkeypatch):
    """``ops.elu_`` (in place or into ``out``, pieces of any size, bf16 computed in float32 and rounded
    once) and ``ops.elu`` (values and gradient) against torch's ELU in float64: within the ``e^x - 1``
    rounding (one float32 rounding of 1; 1e-16 in float64), plus one bf16 rounding for bf16."""
    from bench.encoders import ops

    monkeypatch.setattr(ops, "ELU_PIECE", 1000)                     # 21 pieces, the last one short
    x = torch.cat([torch.linspace(-30, 10, 20001), torch.tensor([0.0, -1e-30, 1e-30])]).to(dtype)

    def close(y: torch.Tensor, x: torch.Tensor) -> bool:
        ref = F.elu(x.double())
        tol = {torch.float32: 2.5e-7, torch.float64: 1e-15, torch.bfloat16: 2.5e-7}[dtype]
        rel = 2.0 ** -8 if dtype == torch.bfloat16 else 0.0
        return bool(((y.double() - ref).abs() <= tol + rel * ref.abs()).all())

    inplace = x.clone()
    assert ops.elu_(inplace) is inplace and close(inplace, x)
    assert close(ops.elu_(x, torch.empty_like(x)), x)
    assert close(ops.elu(x), x)
    xt = x[:20000].view(100, 200).t()
    assert close(ops.elu(xt), xt)
    strided = xt.clone()                                            # non-contiguous: torch's kernel in place
    assert not strided.is_contiguous() and close(ops.elu_(strided), xt)
    if dtype == torch.float64:
        g = torch.randn_like(x)
        xr = x.clone().requires_grad_()
        (gx,) = torch.autograd.grad(ops.elu(xr), xr, g)
        (ref_g,) = torch.autograd.grad(F.elu(xr), xr, g)
        torch.testing.assert_close(gx, ref_g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("size,step", [(6, 3), (4, 4), (7, 1)])
def test_unfold_adjoint_is_the_unfold_gradient(size, step):
    from bench.encoders.ops import unfold_adjoint_

    x = torch.randn(2, 23, 3, dtype=torch.float64, requires_grad=True)
    grad = torch.randn_like(x.unfold(1, size, step))
    (ref,) = torch.autograd.grad(x.unfold(1, size, step), x, grad)
    out = torch.ones_like(x)
    torch.testing.assert_close(unfold_adjoint_(out, grad, 1, size, step), ref + 1)


def test_chunked_block_float32_with_a_dc_offset_stays_accurate(one_thread):
    # mean / std of the summed windows ~ 300: the shift keeps the float32 statistics from cancelling
    torch.manual_seed(2)
    ref, ours = NiceConvBlock(9, 120, dropout=0.0).double().train(), NiceConvBlock(9, 120, dropout=0.0).train()
    ours.load_state_dict(ref.state_dict())
    ref.impl = "literal"
    x = torch.randn(6, 9, 120, dtype=torch.float64) * 0.01 + 3.0
    assert (ours(x.float()).double() - ref(x)).abs().max() < 1e-3


@pytest.mark.parametrize("b,t,c,k,step,block", [(3, 200, 7, 25, 5, None), (4, 97, 5, 24, 5, None), (2, 60, 3, 7, 1, 4),
                                                (2, 61, 3, 25, 5, 50), (1, 30, 2, 30, 5, None)])
def test_window_gram_equals_the_windows_second_moments(b, t, c, k, step, block):
    """``fused_block._window_gram`` (lagged products, no window copy) against ``Xa^T Xa`` built from the
    windows themselves, in float64; any block size, strides that do and do not divide K, one window."""
    from bench.encoders.fused_block import _window_gram

    src = torch.randn(b, t, c, dtype=torch.float64) + 3.0
    win = src.unfold(1, k, step).reshape(-1, k) - 2.5                       # (B*J*C, K) rows (b, j, c)
    xa = torch.cat([win, torch.ones(len(win), 1, dtype=torch.float64)], 1)
    torch.testing.assert_close(_window_gram(src, k, step, 2.5, block), xa.t() @ xa, rtol=1e-13, atol=1e-10)
