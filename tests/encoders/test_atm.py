"""ATM-S: subject tokens (shared for unknown subjects, never a held-out token), all channels kept."""

from __future__ import annotations

import pytest
import torch

from bench.config.schema import ComponentSpec
from bench.encoders import build_encoder
from bench.encoders.atm import ATMS, sinusoidal_embedding

SHAPE = {"n_chans": 17, "n_times": 100, "sfreq": 100.0}


def make(subjects=(1, 2, 3), **params) -> ATMS:
    enc = build_encoder(ComponentSpec(name="atm-s", params=params), SHAPE, 16, subjects=list(subjects), seed=0)
    assert isinstance(enc, ATMS)
    return enc


def test_unknown_subject_uses_the_shared_token():
    enc = make().eval()
    x = torch.randn(3, 17, 100)
    with torch.no_grad():
        unknown = enc(x, torch.tensor([7, 8, 99]))
        none = enc(x, None)
        own = enc(x, torch.tensor([1, 2, 3]))
    torch.testing.assert_close(unknown, none)
    assert not torch.allclose(own, none)
    idx = enc.token_index(torch.tensor([3, 1, 10, 2]), 4, torch.device("cpu"))
    assert idx.tolist() == [2, 0, -1, 1]


def test_held_out_subject_never_gets_its_own_token():
    # Leave-one-subject-out fold: train on 1..9, subject 10 is held out.
    enc = make(subjects=range(1, 10)).eval()
    assert enc.subject_embedding.shape == (9, enc.d_model)
    assert enc.token_subjects.tolist() == list(range(1, 10))
    x = torch.randn(2, 17, 100)
    with torch.no_grad():
        torch.testing.assert_close(enc(x, torch.tensor([10, 10])), enc(x, None))
    # Subjects keep their own tokens whatever the batch mixes (no whole-batch fallback as in the public code).
    with torch.no_grad():
        mixed = enc(x, torch.tensor([10, 4]))
        torch.testing.assert_close(mixed[1], enc(x, torch.tensor([4, 4]))[1])
        torch.testing.assert_close(mixed[0], enc(x, None)[0])


def test_shared_token_is_trained_by_token_dropout():
    enc = make(subject_token_dropout=1.0).train()
    enc(torch.randn(4, 17, 100), torch.tensor([1, 2, 3, 1])).square().mean().backward()
    assert enc.shared_token.grad is not None and enc.shared_token.grad.abs().sum() > 0
    assert enc.subject_embedding.grad is None or enc.subject_embedding.grad.abs().sum() == 0

    enc = make(subject_token_dropout=0.0).train()
    enc(torch.randn(4, 17, 100), torch.tensor([1, 2, 3, 1])).square().mean().backward()
    assert enc.subject_embedding.grad.abs().sum() > 0
    assert enc.shared_token.grad is None or enc.shared_token.grad.abs().sum() == 0


def test_without_subject_token():
    enc = make(subject_token=False).eval()
    assert not enc.uses_subject
    assert not any("subject" in name or "shared" in name for name, _ in enc.named_parameters())
    x = torch.randn(2, 17, 100)
    with torch.no_grad():
        torch.testing.assert_close(enc(x, torch.tensor([1, 2])), enc(x))


def test_every_channel_reaches_the_output():
    # The public code dropped the last channel token; here changing only the last channel matters.
    enc = make().eval()
    x = torch.randn(2, 17, 100)
    y = x.clone()
    y[:, -1] += 1.0
    with torch.no_grad():
        assert not torch.allclose(enc(x), enc(y))


def test_t250_keeps_four_heads_with_divisible_projection():
    enc = build_encoder(ComponentSpec(name="atm-s"), {"n_chans": 63, "n_times": 250, "sfreq": 250.0}, 32)
    attn = enc.layers[0].attention
    assert enc.d_model == 250 and attn.n_heads == 4 and attn.d_head == 62
    assert attn.query.weight.shape == (248, 250) and attn.out.weight.shape == (250, 248)
    assert enc.block.n_features == 1440


def test_positional_embedding_is_a_parameter():
    with_pe = make(positional_embedding=True)
    without = make(positional_embedding=False)
    assert with_pe.position is not None and with_pe.position.shape == (17, 100)
    assert without.position is None
    table = sinusoidal_embedding(5, 7)
    assert table.shape == (5, 7) and torch.allclose(table[0, 0::2], torch.zeros(4))


@pytest.mark.parametrize("threads", [1, 2])        # 1 thread: the chunked NICE block (fused_block), 2: op by op
def test_fast_block_equals_the_literal_ops_in_float64_with_gradients(threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _check_fast_block_equals_literal()
    finally:
        torch.set_num_threads(before)


def _check_fast_block_equals_literal():
    kw = dict(dropout=0.0, conv_dropout=0.0, proj_dropout=0.0, subject_token_dropout=0.0)
    fast, literal = make(**kw).double().train(), make(impl="literal", **kw).double().train()
    literal.load_state_dict(fast.state_dict())
    x = torch.randn(6, 17, 100, dtype=torch.float64)
    subj = torch.tensor([1, 2, 3, 1, 2, 9])
    outs, grads = [], []
    for enc in (literal, fast):
        out = enc(x, subj)
        outs.append(out)
        grads.append(torch.autograd.grad(out.sin().sum(), [p for p in enc.parameters()], allow_unused=True))
    torch.testing.assert_close(outs[1], outs[0], atol=1e-10, rtol=1e-9)
    for (name, _), ga, gb in zip(fast.named_parameters(), *grads):
        if ga is None:
            assert gb is None or not gb.any(), name
            continue
        torch.testing.assert_close(gb, ga, atol=1e-10, rtol=1e-7, msg=name)
    for (k, va), vb in zip(literal.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(vb, va, msg=k)        # BatchNorm running statistics too
