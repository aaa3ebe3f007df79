"""Every registered encoder has a case here (braindecode style): forward/backward on the standard shapes.

Adding an encoder without adding it to CASES fails ``test_every_encoder_has_a_case``.
"""

from __future__ import annotations

import pytest
import torch

from bench.config.schema import ComponentSpec
from bench.encoders import ENCODERS, BrainEncoder, build_encoder

EEG = (63, 250)      # THINGS-EEG2 250 Hz
OSF = (17, 100)      # THINGS-EEG2 official 100 Hz
MEG = (271, 201)     # THINGS-MEG
VOXELS = (500, None)  # fMRI vector (small voxel count)

# name -> (params, [(n_chans, n_times), ...])
CASES: dict[str, tuple[dict, list[tuple[int, int | None]]]] = {
    "nice": ({}, [EEG, OSF, MEG]),
    "atm-s": ({}, [EEG, OSF, MEG]),
    "eegnet": ({}, [EEG, OSF, MEG]),
    "eegconformer": ({}, [EEG, OSF]),
    "shallowfbcspnet": ({}, [EEG, OSF, MEG]),
    "braindecode": ({"model": "Deep4Net"}, [EEG]),
    "brain-mlp": ({"hidden": 64, "n_blocks": 2}, [VOXELS, OSF]),
    "palazzo-rnn": ({"hidden_size": 32}, [EEG, OSF]),
}
D = 24
B = 4


def test_every_encoder_has_a_case():
    missing = set(ENCODERS.names()) - set(CASES)
    assert not missing, f"registered encoders without a test case: {sorted(missing)}"
    assert not set(CASES) - set(ENCODERS.names())


def _cases():
    for name, (params, shapes) in CASES.items():
        for shape in shapes:
            yield pytest.param(name, params, shape, id=f"{name}-{shape[0]}x{shape[1]}")


@pytest.mark.parametrize("name,params,shape", list(_cases()))
def test_forward_backward(name, params, shape):
    n_chans, n_times = shape
    enc = build_encoder(ComponentSpec(name=name, params=params),
                        {"n_chans": n_chans, "n_times": n_times, "sfreq": 250.0 if n_times else None},
                        n_outputs=D, subjects=[1, 2], seed=0)
    assert isinstance(enc, BrainEncoder)
    assert (enc.n_chans, enc.n_times, enc.n_outputs) == (n_chans, n_times, D)
    x = torch.randn(B, n_chans, n_times) if n_times else torch.randn(B, n_chans)
    subject = torch.tensor([1, 2, 3, 1])
    enc.train()
    out = enc(x, subject)
    assert out.shape == (B, D)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert grads and sum(g is not None and bool(g.abs().sum() > 0) for g in grads) >= 0.5 * len(grads)
    # Never a log-softmax embedding: outputs are not all <= 0 and rows do not logsumexp to 0.
    enc.eval()
    with torch.no_grad():
        emb = enc(x, subject)
    assert emb.shape == (B, D)
    assert (emb > 0).any()
    assert not torch.allclose(torch.logsumexp(emb, dim=1), torch.zeros(B), atol=1e-3)
    # Eval mode is deterministic; the subject argument is optional for every encoder.
    with torch.no_grad():
        assert torch.equal(enc(x, subject), emb)
        assert enc(x).shape == (B, D)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_input_shape_is_a_clear_error(name):
    params, shapes = CASES[name]
    n_chans, n_times = shapes[0]
    enc = build_encoder(ComponentSpec(name=name, params=params),
                        {"n_chans": n_chans, "n_times": n_times, "sfreq": 250.0}, n_outputs=D)
    bad = torch.randn(2, n_chans + 1, n_times) if n_times else torch.randn(2, n_chans + 1)
    with pytest.raises(ValueError, match="expects input"):
        enc(bad)


@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_independence(name):
    """In eval mode an item's embedding does not depend on the other items of its batch (braindecode's
    model contract): the batch's rows equal the items embedded one by one, and a permuted batch permutes them."""
    params, shapes = CASES[name]
    n_chans, n_times = shapes[0]
    enc = build_encoder(ComponentSpec(name=name, params=params),
                        {"n_chans": n_chans, "n_times": n_times, "sfreq": 250.0 if n_times else None},
                        n_outputs=D, subjects=[1, 2], seed=0).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(B, n_chans, n_times, generator=gen) if n_times else torch.randn(B, n_chans, generator=gen)
    subject = torch.tensor([1, 2, 1, 2])
    with torch.no_grad():
        batch = enc(x, subject)
        one_by_one = torch.cat([enc(x[i:i + 1], subject[i:i + 1]) for i in range(B)])
        perm = torch.tensor([2, 0, 3, 1])
        permuted = enc(x[perm], subject[perm])
    torch.testing.assert_close(batch, one_by_one, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(permuted, batch[perm], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip(name, tmp_path):
    """A submission's encoder block -> resolved params -> YAML -> loaded again builds the same encoder:
    same parameters (names, shapes, seeded values) and the same embeddings (scikit-learn's clone contract)."""
    import yaml

    from bench.config.resolve import component_signature

    params, shapes = CASES[name]
    n_chans, n_times = shapes[0]
    shape = {"n_chans": n_chans, "n_times": n_times, "sfreq": 250.0 if n_times else None}
    sig = component_signature(name, "encoder")
    assert sig is not None and not sig.unknown(params)
    resolved = sig.resolve(params)
    assert set(resolved) >= set(params) and all(resolved[k] == v for k, v in params.items())
    path = tmp_path / "encoder.yaml"
    path.write_text(yaml.safe_dump({"name": name, "params": resolved}))
    again = ComponentSpec.model_validate(yaml.safe_load(path.read_text()))
    a = build_encoder(ComponentSpec(name=name, params=params), shape, n_outputs=D, subjects=[1, 2], seed=3).eval()
    b = build_encoder(again, shape, n_outputs=D, subjects=[1, 2], seed=3).eval()
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    x = torch.randn(2, n_chans, n_times) if n_times else torch.randn(2, n_chans)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))
