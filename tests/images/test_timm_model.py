"""The "timm" adapter on random-init timm architectures saved as their published checkpoint files."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from bench.images import build_image_model
from bench.images.base import RANDOM_TRANSFORM_NAMES
from tests.images.fake_weights import plant_timm


def _reference(path, name, images):
    import timm
    from timm.data import create_transform, resolve_data_config

    net = timm.create_model(name, pretrained=True, num_classes=0, pretrained_cfg_overlay=dict(file=str(path))).eval()
    transform = create_transform(**resolve_data_config({}, model=net), is_training=False)
    with torch.inference_mode():
        return net(torch.stack([transform(im.convert("RGB")) for im in images])).numpy()


def test_embeddings_match_timm(weights_settings, planted_timm, image_set):
    model = build_image_model("timm", {"model": "test_vit"}, weights_settings)
    assert model.model_id == "timm:test_vit.r160_in1k"
    images = [Image.open(p) for p in image_set.paths]
    out = model.embed(images)
    assert out.shape == (len(images), model.dim)
    np.testing.assert_allclose(out, _reference(planted_timm, "test_vit", images), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.embed(images[:1]), out[:1], rtol=1e-5, atol=1e-6)
    assert model.weight_files() == [planted_timm]


def test_eval_transform_has_no_random_op(weights_settings, planted_timm):
    model = build_image_model("timm", {"model": "test_vit.r160_in1k"}, weights_settings).load()
    names = [type(t).__name__ for t in model._transform.transforms]
    assert not any(r in n for n in names for r in RANDOM_TRANSFORM_NAMES), names
    assert "CenterCrop" in names
    pre = model.preprocessing()
    assert pre["size"] == [160, 160] and pre["mean"] == [0.5, 0.5, 0.5] and pre["crop_pct"] == 0.95


def test_bin_checkpoint_and_explicit_path(tmp_path, settings, image_set):
    path = plant_timm(tmp_path / "w", "test_resnet", fmt="bin", seed=3)
    assert path == tmp_path / "w" / "timm" / "test_resnet.r160_in1k" / "pytorch_model.bin"
    model = build_image_model("timm", {"model": "test_resnet", "weights": str(path.parent), "normalize": True},
                              settings)
    out = model.embed([Image.open(p) for p in image_set.paths[:2]])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    default = build_image_model("timm", {"model": "test_resnet"}, settings.with_(weights_dir=tmp_path / "w"))
    assert default.weight_files() == [path]
    # other weights, other checksum (the cache key follows the file's bytes)
    other = plant_timm(tmp_path / "w2", "test_resnet", fmt="bin", seed=4)
    assert build_image_model("timm", {"model": "test_resnet", "weights": str(other)}, settings).weights_checksum() \
        != model.weights_checksum()
