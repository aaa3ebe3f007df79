"""build_encoder: parameters by name from the data, clear errors, seeded initialisation."""

from __future__ import annotations

import pytest
import torch

from bench.config.schema import ComponentSpec
from bench.encoders import ENCODERS, accepted_params, build_encoder
from bench.errors import ConfigError, RegistryError

SHAPE = {"n_chans": 17, "n_times": 100, "sfreq": 100.0}


def test_unknown_param_names_field_and_lists_accepted():
    with pytest.raises(ConfigError) as info:
        build_encoder(ComponentSpec(name="nice", params={"n_filter": 20}), SHAPE, 16)
    msg = str(info.value)
    assert "encoder.params.n_filter" in msg
    for accepted in ("n_filters", "dropout", "proj_dropout", "impl"):
        assert accepted in msg


@pytest.mark.parametrize("key", ["n_chans", "n_times", "sfreq", "n_outputs", "subjects"])
def test_signal_params_come_from_the_data(key):
    with pytest.raises(ConfigError, match=f"encoder.params.{key}"):
        build_encoder(ComponentSpec(name="nice", params={key: 3}), SHAPE, 16)


def test_unknown_encoder_lists_known_names():
    with pytest.raises(RegistryError, match="nice"):
        build_encoder(ComponentSpec(name="no-such-encoder"), SHAPE, 16)


def test_too_short_input_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 75 samples"):
        build_encoder(ComponentSpec(name="nice"), {"n_chans": 17, "n_times": 50, "sfreq": 100.0}, 16)


def test_timeseries_encoder_on_fmri_is_a_config_error():
    with pytest.raises(ConfigError, match="brain-mlp"):
        build_encoder(ComponentSpec(name="nice"), {"n_chans": 500, "n_times": None, "sfreq": None}, 16)


def test_bad_param_value_is_a_config_error():
    with pytest.raises(ConfigError, match="cell"):
        build_encoder(ComponentSpec(name="palazzo-rnn", params={"cell": "rnn"}), SHAPE, 16)


def test_seed_gives_same_weights_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = build_encoder(ComponentSpec(name="nice"), SHAPE, 16, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = build_encoder(ComponentSpec(name="nice"), SHAPE, 16, seed=3)
    c = build_encoder(ComponentSpec(name="nice"), SHAPE, 16, seed=4)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_accepted_params_exclude_signal_params():
    for name, cls in ENCODERS.items():
        params = accepted_params(cls)
        assert not {"n_chans", "n_times", "sfreq", "n_outputs", "subjects"} & set(params), name
