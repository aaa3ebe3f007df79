"""Losses against naive reimplementations (explicit loops, F.cross_entropy in both directions)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.config.schema import RecipeSpec
from bench.training.losses import Temperature, TrainingLoss, build_loss, info_nce, triplet


def naive_info_nce(brain, image, tau, keys=None):
    """Row by row: -log softmax over the allowed columns, both directions, averaged."""
    b = brain / brain.norm(dim=1, keepdim=True)
    v = image / image.norm(dim=1, keepdim=True)
    n = len(b)
    total_b2i = total_i2b = 0.0
    for i in range(n):
        allowed = [j for j in range(n) if j == i or keys is None or keys[j] != keys[i]]
        sims = torch.stack([b[i] @ v[j] / tau for j in allowed])
        total_b2i += -(b[i] @ v[i] / tau - torch.logsumexp(sims, 0))
        sims = torch.stack([v[i] @ b[j] / tau for j in allowed])
        total_i2b += -(v[i] @ b[i] / tau - torch.logsumexp(sims, 0))
    return (total_b2i + total_i2b) / (2 * n)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    brain = torch.randn(12, 8, generator=g, dtype=torch.float64)
    image = torch.randn(12, 8, generator=g, dtype=torch.float64)
    image_index = torch.tensor([0, 1, 2, 0, 3, 4, 5, 1, 6, 7, 8, 9])
    concepts = torch.tensor([0, 0, 1, 0, 1, 2, 2, 0, 3, 3, 4, 4])
    image[3] = image[0]
    image[7] = image[1]
    return brain, image, image_index, concepts


def test_info_nce_matches_cross_entropy_both_directions(batch):
    brain, image, *_ = batch
    tau = 0.07
    logits = F.normalize(brain, dim=1) @ F.normalize(image, dim=1).T / tau
    target = torch.arange(len(brain))
    expected = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    torch.testing.assert_close(info_nce(brain, image, 1 / tau).double(), expected.double(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(info_nce(brain, image, 1 / tau).double(), naive_info_nce(brain, image, tau),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("which", ["image", "concept"])
def test_false_negative_exclusion_matches_loops(batch, which):
    brain, image, image_index, concepts = batch
    keys = image_index if which == "image" else concepts
    ours = info_nce(brain, image, 1 / 0.1, keys)
    torch.testing.assert_close(ours.double(), naive_info_nce(brain, image, 0.1, keys), rtol=1e-5, atol=1e-6)
    assert not torch.isclose(ours, info_nce(brain, image, 1 / 0.1))


def test_training_loss_uses_the_recipe(batch):
    brain, image, image_index, concepts = batch
    recipe = RecipeSpec(temperature={"initial": 0.05}, exclude_false_negatives="concept")
    loss = build_loss(recipe)
    torch.testing.assert_close(loss(brain, image, image_index, concepts).double(),
                               naive_info_nce(brain, image, 0.05, concepts), rtol=1e-5, atol=1e-6)
    assert loss.tau == pytest.approx(0.05)
    assert not any(p.requires_grad for p in loss.parameters())


def test_infonce_plus_mse(batch):
    brain, image, image_index, concepts = batch
    loss = build_loss(RecipeSpec(loss="infonce+mse", mse_weight=0.25, temperature={"initial": 0.1}))
    expected = 0.75 * naive_info_nce(brain, image, 0.1) + 0.25 * ((brain - image) ** 2).mean()
    torch.testing.assert_close(loss(brain, image, image_index, concepts).double(), expected, rtol=1e-5, atol=1e-6)


def naive_triplet(brain, image, image_index, keys=None):
    rows = []
    for i in range(len(brain)):
        pos = brain[i] @ image[i]
        terms = [max(0.0, float(brain[i] @ image[j] - pos)) for j in range(len(brain))
                 if j != i and image_index[j] != image_index[i] and (keys is None or keys[j] != keys[i])]
        if terms:
            rows.append(sum(terms) / len(terms))
    return sum(rows) / len(rows)


@pytest.mark.parametrize("exclude", ["none", "concept"])
def test_triplet_matches_loop(batch, exclude):
    brain, image, image_index, concepts = batch
    keys = concepts if exclude == "concept" else None
    ours = triplet(brain, image, image_index, keys)
    assert float(ours) == pytest.approx(naive_triplet(brain, image, image_index, keys), rel=1e-5)
    loss = build_loss(RecipeSpec(loss="triplet", exclude_false_negatives=exclude))
    assert float(loss(brain, image, image_index, concepts)) == pytest.approx(float(ours), rel=1e-6)
    assert math.isnan(loss.tau)


def test_triplet_is_zero_when_positive_dominates():
    image = torch.eye(4) * 10
    assert float(triplet(image.clone(), image, torch.arange(4))) == 0.0


def test_learnable_temperature_is_log_scale_and_clamped():
    temp = Temperature(0.07, learnable=True)
    assert temp.log_scale.requires_grad
    assert float(temp.log_scale.detach()) == pytest.approx(math.log(1 / 0.07), rel=1e-6)
    assert temp.tau == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        temp.log_scale.fill_(10.0)
    assert float(temp().detach()) == pytest.approx(100.0, rel=1e-5)   # CLIP bound: tau >= 0.01
    temp.clamp_()
    assert float(temp.log_scale.detach()) == pytest.approx(math.log(100.0), rel=1e-6)
    fixed = Temperature(0.04, learnable=False)
    assert not any(True for _ in fixed.parameters())
    assert "log_scale" in fixed.state_dict()


def test_learnable_temperature_gets_gradients(batch):
    brain, image, *_ = batch
    loss = TrainingLoss("infonce", temperature=0.5, learnable_temperature=True)
    loss(brain.float(), image.float()).backward()
    assert loss.temperature.log_scale.grad is not None and loss.temperature.log_scale.grad != 0


def test_similarity_cosine_or_dot():
    brain = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    gallery = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    torch.testing.assert_close(TrainingLoss("infonce").similarity(brain, gallery), torch.eye(2))
    torch.testing.assert_close(TrainingLoss("triplet").similarity(brain, gallery),
                               torch.tensor([[2.0, 0.0], [0.0, 15.0]]))
