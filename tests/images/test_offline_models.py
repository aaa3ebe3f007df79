"""The weight-free image models: deterministic, seed-identified, fast, and informative on drawn stimuli."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from bench.images import build_image_model, image_set_from_folder
from bench.images.cache import compute_embeddings
from tests.images.synthetic_images import knn_concept_accuracy, write_image_folder

OFFLINE = ["pixels-colour-texture", "random-convnet"]


def _images(image_set):
    return [Image.open(p) for p in image_set.paths]


@pytest.mark.parametrize("name", OFFLINE)
def test_shape_dtype_and_determinism(settings, image_set, name):
    model = build_image_model(name, {}, settings)
    images = _images(image_set)
    a = model.embed(images)
    b = build_image_model(name, {}, settings).embed(images)  # a fresh instance
    assert a.shape == (len(images), model.dim) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.isfinite(a).all()
    # an image's vector does not depend on its batch
    np.testing.assert_allclose(model.embed(images[3:4])[0], a[3], rtol=1e-5, atol=1e-6)
    # different images, different vectors; unit-norm output
    assert not np.allclose(a[0], a[2])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)


def test_random_convnet_identity_follows_seed(settings):
    a = build_image_model("random-convnet", {"seed": 0}, settings)
    b = build_image_model("random-convnet", {"seed": 1}, settings)
    assert "seed0" in a.model_id and "seed1" in b.model_id
    assert a.weights_checksum() == build_image_model("random-convnet", {"seed": 0}, settings).weights_checksum()
    assert a.weights_checksum() != b.weights_checksum()
    assert a.weights_checksum().startswith("random-init-seed0-sha256:")
    img = [Image.new("RGB", (40, 40), (200, 30, 30))]
    assert not np.allclose(a.embed(img), b.embed(img))


def test_pixels_colour_texture_identity(settings):
    m = build_image_model("pixels-colour-texture", {"size": 32}, settings)
    assert m.weights_checksum() == "none"
    assert m.model_id == "pixels-colour-texture:s32-g2-v1"
    assert m.embed([Image.new("RGB", (50, 30), (0, 0, 255))]).shape == (1, m.dim)


@pytest.mark.parametrize("name", OFFLINE)
def test_preprocessing_is_deterministic(settings, name):
    pre = build_image_model(name, {}, settings).preprocessing()
    assert pre["crop"] == "centre"
    assert not any("random" in str(v).lower() for v in pre.values())


@pytest.mark.parametrize("name", OFFLINE)
def test_informative_on_drawn_stimuli(settings, tmp_path, name):
    """1-NN retrieval on (shape, colour, texture) stimuli with jittered pose: concept far above chance
    (1/36), colour and texture nearly always right."""
    from tests.images.synthetic_images import COLOURS, SHAPES, TEXTURES

    concepts = np.arange(0, 90, 5)[:18].tolist() + np.arange(1, 90, 5)[:18].tolist()  # 2 shapes x 6 colours x 3 textures
    folder = write_image_folder(tmp_path / "stim", n_concepts=90, per_concept=4, size=64, seed=3, only=concepts)
    images = image_set_from_folder(folder)
    concept = np.array([int(i.split("/")[0].split("_")[0]) - 1 for i in images.ids])
    emb = compute_embeddings(build_image_model(name, {}, settings), images, progress=False)
    assert knn_concept_accuracy(emb, concept) > 0.15
    assert knn_concept_accuracy(emb, (concept // len(SHAPES)) % len(COLOURS)) > 0.6
    assert knn_concept_accuracy(emb, (concept // (len(SHAPES) * len(COLOURS))) % len(TEXTURES)) > 0.7


@pytest.mark.parametrize("name", OFFLINE)
def test_fast_enough_for_the_demo(settings, name):
    """Hundreds of small images per second (loose floor: 60/s, shared CI machines vary)."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(128)]
    model = build_image_model(name, {}, settings).load()
    model.embed(images[:4])
    t0 = time.perf_counter()
    model.embed(images)
    rate = len(images) / (time.perf_counter() - t0)
    assert rate > 60, f"{name}: {rate:.0f} images/s"
