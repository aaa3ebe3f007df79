"""recipe.normalise options, named for what they do (issue #18): train-mean centring vs AlignVis per-vector centring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from bench.config.schema import RecipeSpec
from bench.metrics.retrieval import cosine_similarity, pearson_similarity, true_ranks
from bench.training.targets import brain_embeddings, image_targets, normalise_targets
from bench.training.losses import NORMALISATIONS, TrainingLoss, build_loss, info_nce


def test_every_option_is_documented_and_accepted_and_typos_are_not():
    for name in ("l2", "train-mean-center-l2", "center-l2", "per-vector-center-l2"):
        assert RecipeSpec(normalise=name).normalise == name and NORMALISATIONS[name]
    assert "AlignVis" in NORMALISATIONS["per-vector-center-l2"] and "NOT AlignVis" in NORMALISATIONS["train-mean-center-l2"]
    with pytest.raises(ValueError):
        RecipeSpec(normalise="pearson")


def test_legacy_center_l2_is_the_train_mean_option():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(20, 6)) + 2.0
    c_old, t_old = normalise_targets(emb, "center-l2")
    c_new, t_new = normalise_targets(emb, "train-mean-center-l2")
    assert np.allclose(c_old, emb.mean(0)) and np.array_equal(c_old, c_new) and np.array_equal(t_old, t_new)
    assert np.allclose(np.linalg.norm(t_new, axis=1), 1.0)
    c_l2, t_l2 = normalise_targets(emb, "l2")
    assert not c_l2.any() and np.allclose(t_l2, emb / np.linalg.norm(emb, axis=1, keepdims=True))


def test_per_vector_option_gives_pearson_r_in_training_and_evaluation():
    rng = np.random.default_rng(1)
    brain, images = rng.normal(size=(8, 5)) + 1.0, rng.normal(size=(8, 5)) - 3.0
    centre, _ = normalise_targets(images, "per-vector-center-l2")
    assert not centre.any()
    targets = image_targets(images, centre, "per-vector-center-l2")
    sim = cosine_similarity(brain_embeddings(brain, "per-vector-center-l2"), targets)
    for i in range(8):
        for j in range(8):
            assert sim[i, j] == pytest.approx(pearsonr(brain[i], images[j]).statistic)
    # the training loss: InfoNCE on Pearson r = InfoNCE on explicitly centred vectors
    b, g = torch.from_numpy(brain).float(), torch.from_numpy(images).float()
    loss = build_loss(RecipeSpec(normalise="per-vector-center-l2"))
    assert loss.per_vector_center and not build_loss(RecipeSpec(normalise="center-l2")).per_vector_center
    want = info_nce(b - b.mean(1, keepdim=True), g - g.mean(1, keepdim=True), loss.temperature())
    assert float(loss(b, g)) == pytest.approx(float(want), rel=1e-6)
    assert float(loss(b, g)) != pytest.approx(float(TrainingLoss()(b, g)), rel=1e-3)
    assert loss.similarity(b, g).numpy() == pytest.approx(pearson_similarity(brain, images), abs=1e-6)


def test_planted_per_vector_offsets_separate_the_two_options():
    """Brain vectors = image vectors + a large per-vector offset: only per-vector centring removes it."""
    rng = np.random.default_rng(2)
    images = rng.normal(size=(100, 16))
    brain = images + 0.8 * rng.normal(size=(100, 16)) + rng.normal(scale=4.0, size=(100, 1))
    true = np.arange(100)
    centre, _ = normalise_targets(images, "train-mean-center-l2")
    train_mean = cosine_similarity(brain_embeddings(brain, "train-mean-center-l2"),
                                   image_targets(images, centre, "train-mean-center-l2"))
    per_vector = cosine_similarity(brain_embeddings(brain, "per-vector-center-l2"),
                                   image_targets(images, np.zeros(16), "per-vector-center-l2"))
    top1 = lambda s: float(np.mean(true_ranks(s, true) == 0))          # noqa: E731
    assert top1(per_vector) > top1(train_mean) + 0.2, (top1(per_vector), top1(train_mean))
