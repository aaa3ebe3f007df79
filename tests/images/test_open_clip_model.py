"""The "open_clip" adapter on random-init real architectures planted in open_clip's own layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.images import build_image_model, embed_image_set
from bench.images.base import RANDOM_TRANSFORM_NAMES
from tests.images.fake_weights import plant_open_clip


def _reference(weights_file, name, images, quick_gelu=False):
    """What open_clip itself computes from the same file with its own eval preprocess."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(weights_file),
                                                                 force_quick_gelu=quick_gelu)
    model.eval()
    with torch.inference_mode():
        return model.encode_image(torch.stack([preprocess(im) for im in images])).numpy()


@pytest.fixture(scope="module")
def oc_settings(tmp_path_factory, session_weights, planted_open_clip):
    from bench.settings import load_settings

    return load_settings(cache_dir=tmp_path_factory.mktemp("oc-cache"), weights_dir=session_weights, device="cpu")


@pytest.fixture(scope="module")
def oc_model(oc_settings):
    """The adapter on the planted ViT-S-32, loaded once for this module."""
    return build_image_model("open_clip", {"model": "ViT-S-32", "pretrained": "random-test"}, oc_settings).load()


def test_embeddings_match_open_clip(oc_model, planted_open_clip, image_set):
    images = [Image.open(p) for p in image_set.paths]
    out = oc_model.embed(images)
    assert out.shape == (len(images), 384) and oc_model.dim == 384
    np.testing.assert_allclose(out, _reference(planted_open_clip, "ViT-S-32", images), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(oc_model.embed(images[:2]), out[:2], rtol=1e-5, atol=1e-6)  # deterministic
    assert oc_model.weight_files() == [planted_open_clip]
    from bench.data.checksum import file_sha256

    assert oc_model.weights_checksum() == file_sha256(planted_open_clip)


def test_preprocessing_is_the_eval_transform(oc_model):
    names = [type(t).__name__ for t in oc_model._transform.transforms]
    assert not any(r in n for n in names for r in RANDOM_TRANSFORM_NAMES), names
    assert names[:2] == ["Resize", "CenterCrop"]
    pre = oc_model.preprocessing()
    assert pre["size"] == 224 and pre["interpolation"] == "bicubic" and pre["resize"] == "shortest"
    assert pre["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert oc_model.model_id == "open_clip:ViT-S-32:random-test"


def test_known_tag_sets_preprocessing_without_weights(settings):
    siglip = build_image_model("open_clip", {"model": "ViT-B-16-SigLIP", "pretrained": "webli"}, settings)
    assert siglip.preprocessing()["mean"] == [0.5, 0.5, 0.5]


def test_local_dir_normalized_and_cached(tmp_path, settings, oc_model, image_set):
    """The local-dir: layout (config + weights, as `hf download` gives) loads the same network."""
    folder = plant_open_clip(tmp_path / "w", "ViT-S-32", "random-test", layout="local-dir", seed=0)
    s = settings.with_(weights_dir=tmp_path / "w")
    found = build_image_model("open_clip", {"model": "ViT-S-32", "pretrained": "random-test"}, s)
    assert found._source() == ("local-dir", folder)  # found at the default place, local-dir form
    by_file = build_image_model("open_clip", {"model": "ViT-S-32", "pretrained": "random-test",
                                              "weights": str(folder / "open_clip_model.safetensors")}, settings)
    assert by_file._source() == ("file", folder / "open_clip_model.safetensors")
    by_dir = build_image_model("open_clip", {"model": "ViT-S-32", "pretrained": "random-test", "normalize": True,
                                             "weights": f"local-dir:{folder}"}, settings)
    assert [p.name for p in by_dir.weight_files()] == ["open_clip_config.json", "open_clip_model.safetensors"]
    assert by_dir.normalisation() == "l2"
    out = embed_image_set(by_dir, image_set, settings, progress=False)
    ref = oc_model.embed([Image.open(p) for p in image_set.paths])
    np.testing.assert_allclose(out, ref / np.linalg.norm(ref, axis=1, keepdims=True), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_vit_b_32_openai_uses_quick_gelu(tmp_path, settings, image_set):
    """The 'openai' tag trains with QuickGELU; a weights *file* must get it too (open_clip would not)."""
    path = plant_open_clip(tmp_path / "w", "ViT-B-32", "openai", dtype=torch.float16)
    s = settings.with_(weights_dir=tmp_path / "w")
    model = build_image_model("open_clip", {"model": "ViT-B-32", "pretrained": "openai"}, s).load()
    act = model._net.visual.transformer.resblocks[0].mlp.gelu
    assert type(act).__name__ == "QuickGELU"
    images = [Image.open(p) for p in image_set.paths[:2]]
    np.testing.assert_allclose(model.embed(images), _reference(path, "ViT-B-32", images, quick_gelu=True),
                               rtol=1e-4, atol=1e-4)
