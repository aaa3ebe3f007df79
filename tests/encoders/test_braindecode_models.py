"""braindecode feature extractors: the classification head is gone, a linear projection replaces it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.config.schema import ComponentSpec
from bench.encoders import build_encoder
from bench.errors import ConfigError

SHAPE = {"n_chans": 63, "n_times": 250, "sfreq": 250.0}


@pytest.mark.parametrize("name,features", [("eegnet", 112), ("shallowfbcspnet", 440), ("eegconformer", 32)])
def test_head_stripped_and_projected(name, features):
    enc = build_encoder(ComponentSpec(name=name), SHAPE, 48)
    assert enc.head_mode == "strip"
    assert enc.n_features == features
    assert isinstance(enc.projection, nn.Linear) and enc.projection.in_features == features
    assert not isinstance(enc.backbone.final_layer, nn.Linear) or enc.backbone.final_layer.out_features != 48
    assert not any(isinstance(m, nn.LogSoftmax) for m in enc.modules())
    enc.eval()
    with torch.no_grad():
        feats = enc.backbone(torch.randn(3, 63, 250))
    assert feats.flatten(1).shape == (3, features)


def test_generic_model_by_name():
    enc = build_encoder(ComponentSpec(name="braindecode", params={"model": "ShallowFBCSPNet"}), SHAPE, 48)
    assert enc.model_name == "ShallowFBCSPNet" and enc.head_mode == "strip" and enc.n_features == 440


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_generic_keeps_head_when_it_cannot_be_stripped():
    # ATCNet iterates over its per-window heads: its head (built with n_outputs = D) is the projection.
    enc = build_encoder(ComponentSpec(name="braindecode", params={"model": "ATCNet"}), SHAPE, 48)
    assert enc.head_mode == "keep"
    assert enc(torch.randn(2, 63, 250)).shape == (2, 48)


def test_unknown_braindecode_model():
    with pytest.raises(ConfigError, match="EEGNet"):
        build_encoder(ComponentSpec(name="braindecode", params={"model": "NoSuchNet"}), SHAPE, 48)


def test_model_params_cannot_override_data_shape():
    with pytest.raises(ConfigError, match="model_params"):
        build_encoder(ComponentSpec(name="eegnet", params={"model_params": {"n_chans": 3}}), SHAPE, 48)


def test_model_params_are_passed():
    enc = build_encoder(ComponentSpec(name="eegnet", params={"model_params": {"F1": 4, "D": 2}}), SHAPE, 48)
    assert enc.n_features == 8 * 7
