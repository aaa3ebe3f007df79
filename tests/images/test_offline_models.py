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
    assert m.model_id == "pixels-colour-texture:s32-g2-shape-v1"
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
    """Hundreds of small images per second on 2 idle cores (loose floor: 40/s, shared CI machines vary)."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(128)]
    model = build_image_model(name, {}, settings).load()
    model.embed(images[:4])
    t0 = time.perf_counter()
    model.embed(images)
    rate = len(images) / (time.perf_counter() - t0)
    assert rate > 40, f"{name}: {rate:.0f} images/s"


def _ridge_cv_r2(x: np.ndarray, y: np.ndarray, alpha: float = 1.0, folds: int = 5) -> np.ndarray:
    """Cross-validated R^2 per column of ``y`` of a ridge regression on ``x`` (numpy only)."""
    pred = np.empty_like(y)
    for k in range(folds):
        test = np.arange(len(x)) % folds == k
        xm, ym = x[~test].mean(0), y[~test].mean(0)
        a, b = x[~test] - xm, y[~test] - ym
        w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ b)
        pred[test] = (x[test] - xm) @ w + ym
    return 1 - ((pred - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


@pytest.mark.parametrize("name, mean_r2", [("pixels-colour-texture", 0.3), ("random-convnet", 0.2)])
def test_recovers_the_simulators_features(settings, name, mean_r2):
    """The simulator draws each stimulus from 16 latent features; the embeddings predict them linearly."""
    simulate = pytest.importorskip("bench.data.simulate.things_eeg2")
    stimuli = pytest.importorskip("bench.data.simulate.stimuli")
    features = simulate.ThingsEEG2Simulation("tiny", 0).features("train")[:300]
    images = [Image.fromarray(stimuli.render(f, 64)) for f in features]
    emb = build_image_model(name, {}, settings).embed(images).astype(np.float64)
    r2 = dict(zip(stimuli.FEATURE_NAMES, _ridge_cv_r2(emb, features, alpha=0.1)))
    assert np.mean(list(r2.values())) > mean_r2, r2
    assert min(r2["hue_x"], r2["hue_y"], r2["bg_lightness"]) > 0.6, r2
