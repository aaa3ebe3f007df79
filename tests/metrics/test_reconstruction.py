"""Reconstruction metrics against independent computations (scipy, scikit-image, naive loops).

The reference paths here re-do each recipe the straightforward way -- MindEye1's torchvision
``transforms.Resize`` calls, ``scipy.stats.pearsonr``, ``skimage.metrics.structural_similarity``, a
double loop over ``np.corrcoef``, ``scipy.spatial.distance.correlation``, mind-vis's sampling loop,
the closed-form IS -- and never call the implementation's helpers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from bench.metrics._common import MetricInputError
from bench.metrics.reconstruction import (correlation_distance, inception_score, n_way_top_k_accuracy, pixcorr,
                                          resize_images, ssim, two_way_identification)

TOL = 1e-6


def _images(n=5, h=40, w=48, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.random((n, 3, h, w)).astype(np.float32)
    noise = rng.random((n, 3, h, w)).astype(np.float32)
    rec = (0.6 * gt + 0.4 * noise).astype(np.float32)
    return gt, rec


def _mindeye_resize(x: np.ndarray, antialias: bool = True) -> torch.Tensor:
    """MindEye1's two resizes, written with torchvision transforms as its notebook does."""
    t = torch.from_numpy(x)
    t = transforms.Resize((256, 256), antialias=antialias)(t)
    return transforms.Resize(425, interpolation=InterpolationMode.BILINEAR, antialias=antialias)(t)


# ------------------------------------------------------------------------------------- resizing
@pytest.mark.parametrize("mode,pil", [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)])
def test_resize_matches_pil(mode, pil):
    """The antialiased resize is PIL's (an independent implementation), up to float32 round-off (~1e-5)."""
    gt, _ = _images(n=1, h=70, w=90)
    for size in ((256, 256), 425, (30, 20)):
        out = resize_images(torch.from_numpy(gt), size, mode=mode)[0].numpy()
        h, w = out.shape[-2:]
        for c in range(3):
            ref = np.asarray(Image.fromarray(gt[0, c], mode="F").resize((w, h), pil))
            if mode == "bicubic":
                ref = np.clip(ref, 0, 1)
            np.testing.assert_allclose(out[c], ref, atol=2e-5)


# ------------------------------------------------------------------------------------- PixCorr
@pytest.mark.parametrize("antialias", [True, False])
def test_pixcorr_matches_pearsonr(antialias):
    gt, rec = _images()
    g, r = _mindeye_resize(gt, antialias), _mindeye_resize(rec, antialias)
    expected = [scipy.stats.pearsonr(g[i].reshape(-1).double().numpy(), r[i].reshape(-1).double().numpy())[0]
                for i in range(len(gt))]
    got = pixcorr(gt, rec, per_image=True, antialias=antialias)
    assert got.shape == (len(gt),)
    np.testing.assert_allclose(got, expected, atol=TOL)
    assert pixcorr(gt, rec, antialias=antialias) == pytest.approx(np.mean(expected), abs=TOL)


def test_pixcorr_torch_numpy_uint8_and_batching_agree():
    gt, rec = _images(n=3)
    ref = pixcorr(gt, rec)
    assert pixcorr(torch.from_numpy(gt), torch.from_numpy(rec)) == pytest.approx(ref, abs=1e-12)
    assert pixcorr(gt, rec, batch_size=1) == pytest.approx(ref, abs=1e-12)
    g8 = np.round(gt * 255).astype(np.uint8)
    assert pixcorr(g8, g8) == pytest.approx(1.0, abs=TOL)


def test_pixcorr_different_input_sizes():
    gt, _ = _images(n=2, h=64, w=64)
    _, rec = _images(n=2, h=30, w=50, seed=1)
    g, r = _mindeye_resize(gt), _mindeye_resize(rec)
    expected = [np.corrcoef(g[i].reshape(-1).double(), r[i].reshape(-1).double())[0, 1] for i in range(2)]
    np.testing.assert_allclose(pixcorr(gt, rec, per_image=True), expected, atol=TOL)


def test_pixcorr_constant_image_scores_zero_not_nan():
    gt, rec = _images(n=2)
    rec[1] = 0.5
    got = pixcorr(gt, rec, per_image=True)
    assert np.isfinite(got).all()
    assert got[1] == 0.0


# ----------------------------------------------------------------------------------------- SSIM
def test_ssim_matches_skimage_on_grayscale():
    gt, rec = _images(n=3)
    g, r = _mindeye_resize(gt), _mindeye_resize(rec)
    gg = rgb2gray(g.permute(0, 2, 3, 1).double().numpy())
    rg = rgb2gray(r.permute(0, 2, 3, 1).double().numpy())
    expected = [structural_similarity(rg[i], gg[i], gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0) for i in range(3)]
    got = ssim(gt, rec, per_image=True)
    np.testing.assert_allclose(got, expected, atol=TOL)
    assert ssim(gt, rec) == pytest.approx(np.mean(expected), abs=TOL)


def test_ssim_is_grayscale_not_per_channel():
    gt, rec = _images(n=1)
    g = _mindeye_resize(gt)[0].permute(1, 2, 0).double().numpy()
    r = _mindeye_resize(rec)[0].permute(1, 2, 0).double().numpy()
    rgb = structural_similarity(r, g, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0)
    assert abs(ssim(gt, rec) - rgb) > 1e-3


def test_ssim_identical_and_constant_images():
    gt, _ = _images(n=2)
    assert ssim(gt, gt) == pytest.approx(1.0, abs=TOL)
    flat = np.full_like(gt, 0.3)
    assert ssim(flat, flat) == pytest.approx(1.0, abs=TOL)
    assert np.isfinite(ssim(gt, flat, per_image=True)).all()


# ---------------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("fn", [pixcorr, ssim])
def test_image_input_errors(fn):
    gt, rec = _images(n=2)
    bad = rec.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(MetricInputError, match="NaN"):
        fn(gt, bad)
    with pytest.raises(MetricInputError, match=r"\(N, 3, H, W\).*channels-last"):
        fn(gt.transpose(0, 2, 3, 1), rec.transpose(0, 2, 3, 1))
    with pytest.raises(MetricInputError, match="single image"):
        fn(gt[0], rec[0])
    with pytest.raises(MetricInputError, match=r"expected \[0, 1\]"):
        fn(gt * 255, rec)
    with pytest.raises(MetricInputError, match="2 images but 'rec' has 1"):
        fn(gt, rec[:1])
    with pytest.raises(ValueError):               # MetricInputError is a ValueError too
        fn(gt, bad)


# ------------------------------------------------------------------------ two-way identification
def _two_way_naive(gt, rec):
    """For each reconstruction j, the share of other ground truths i with r(gt_i, rec_j) < r(gt_j, rec_j)."""
    n = len(gt)
    out = []
    for j in range(n):
        own = np.corrcoef(gt[j], rec[j])[0, 1]
        wins = sum(np.corrcoef(gt[i], rec[j])[0, 1] < own for i in range(n) if i != j)
        out.append(wins / (n - 1))
    return np.array(out)


def _two_way_mindeye(gt, rec):
    """MindEye1's vectorised version (success counted per column)."""
    n = len(gt)
    r = np.corrcoef(gt, rec)[:n, n:]
    return np.sum(r < np.diag(r), axis=0) / (n - 1)


def test_two_way_matches_naive_loop_and_mindeye():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(9, 40))
    rec = 0.3 * gt + rng.normal(size=(9, 40))
    expected = _two_way_naive(gt, rec)
    got = two_way_identification(gt, rec, per_image=True)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(got, _two_way_mindeye(gt, rec), atol=1e-12)
    assert two_way_identification(gt, rec) == pytest.approx(expected.mean(), abs=1e-12)
    assert 0.0 < expected.mean() < 1.0                 # a non-trivial case


def test_two_way_anchors_on_reconstruction_axis():
    """Scoring with the roles swapped (the anchors' bug) gives a different answer on asymmetric data."""
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(6, 20))
    rec = gt[[0, 0, 0, 3, 4, 5]] + 0.1 * rng.normal(size=(6, 20))
    right = two_way_identification(gt, rec, per_image=True)
    np.testing.assert_allclose(right, _two_way_naive(gt, rec), atol=1e-12)
    assert not np.allclose(right, two_way_identification(rec, gt, per_image=True))


def test_two_way_n2_and_multidim_features_and_torch():
    rng = np.random.default_rng(5)
    gt = rng.normal(size=(2, 4, 3, 3))
    rec = gt + 0.01 * rng.normal(size=gt.shape)
    assert two_way_identification(gt, rec) == 1.0
    assert two_way_identification(torch.from_numpy(gt).float(), torch.from_numpy(rec[::-1].copy()).float()) == 0.0
    np.testing.assert_allclose(two_way_identification(gt, rec, per_image=True),
                               _two_way_naive(gt.reshape(2, -1), rec.reshape(2, -1)))


def test_two_way_ties_fail():
    rng = np.random.default_rng(6)
    base = rng.normal(size=(4, 30))
    gt = base.copy()
    gt[1] = gt[0]                       # two identical ground truths
    rec = base.copy()
    got = two_way_identification(gt, rec, per_image=True)
    # rec 0 == gt 0 == gt 1: distractor gt 1 ties (fails), gt 2 and gt 3 lose -> 2/3. In general a
    # distractor identical to the own ground truth is an exact tie and must fail; the rest by value.
    expected = []
    for j in range(4):
        own = np.corrcoef(gt[j], rec[j])[0, 1]
        wins = 0
        for i in range(4):
            if i == j:
                continue
            other = np.corrcoef(gt[i], rec[j])[0, 1]
            if np.array_equal(gt[i], gt[j]):
                continue                # an exact tie: must fail whatever round-off says
            wins += other < own
        expected.append(wins / 3)
    np.testing.assert_allclose(got, expected)
    assert got[0] == pytest.approx(2 / 3)


def test_two_way_constant_reconstruction_fails_everything():
    rng = np.random.default_rng(7)
    gt = rng.normal(size=(5, 12))
    rec = gt + 0.01 * rng.normal(size=gt.shape)
    rec[2] = 1.0
    got = two_way_identification(gt, rec, per_image=True)
    assert got[2] == 0.0
    assert np.all(got[[0, 1, 3, 4]] == 1.0)


def test_two_way_errors():
    rng = np.random.default_rng(8)
    gt = rng.normal(size=(3, 5))
    with pytest.raises(MetricInputError, match="at least 2"):
        two_way_identification(gt[:1], gt[:1])
    with pytest.raises(MetricInputError, match="per-item shape"):
        two_way_identification(gt, gt[:, :4])
    with pytest.raises(MetricInputError, match="3 items but 'rec_feats' has 2"):
        two_way_identification(gt, gt[:2])
    bad = gt.copy()
    bad[1, 1] = np.inf
    with pytest.raises(MetricInputError, match="rec_feats.*NaN/Inf"):
        two_way_identification(gt, bad)
    with pytest.raises(MetricInputError, match=r"\(N, D\)"):
        two_way_identification(gt[0], gt[0])


# ------------------------------------------------------------------------- correlation distance
def test_correlation_distance_matches_scipy():
    rng = np.random.default_rng(9)
    gt = rng.normal(size=(6, 25))
    rec = 0.5 * gt + rng.normal(size=gt.shape)
    expected = np.array([scipy.spatial.distance.correlation(gt[i], rec[i]) for i in range(6)])
    np.testing.assert_allclose(correlation_distance(gt, rec, per_image=True), expected, atol=1e-12)
    assert correlation_distance(gt, rec) == pytest.approx(expected.mean(), abs=1e-12)
    assert correlation_distance(gt[:1], rec[:1]) == pytest.approx(expected[0], abs=1e-12)   # N = 1 is fine


def test_correlation_distance_constant_is_one():
    rng = np.random.default_rng(10)
    gt = rng.normal(size=(2, 8))
    rec = gt.copy()
    rec[0] = 3.0
    got = correlation_distance(gt, rec, per_image=True)
    assert got[0] == 1.0 and got[1] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(MetricInputError, match="NaN"):
        correlation_distance(gt, np.full_like(gt, np.nan))


# ----------------------------------------------------------------------------------------- N-way
def _mind_vis_n_way(gt_class, probs, n_way, top_k, trials, seed):
    """mind-vis's n_way_top_k_acc loop after np.random.seed(seed), with ties failing (continuous probs)."""
    np.random.seed(seed)
    accs = []
    for pred, class_id in zip(probs, gt_class):
        pick_range = [i for i in np.arange(len(pred)) if i != class_id]
        acc_list = []
        for _ in range(trials):
            idxs_picked = np.random.choice(pick_range, n_way - 1, replace=False)
            pred_picked = np.concatenate([[pred[class_id]], pred[idxs_picked]])
            order = np.argsort(-pred_picked, kind="stable")
            acc_list.append(float(0 in order[:top_k]))
        accs.append(np.mean(acc_list))
    return np.array(accs)


@pytest.mark.parametrize("n_way,top_k", [(50, 1), (10, 3), (2, 1)])
def test_n_way_matches_mind_vis_loop(n_way, top_k):
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.ones(100) * 0.3, size=6)
    gt_class = rng.integers(0, 100, size=6)
    expected = _mind_vis_n_way(gt_class, probs, n_way, top_k, trials=200, seed=3)
    got = n_way_top_k_accuracy(gt_class, probs, n_way=n_way, top_k=top_k, trials=200, seed=3, per_image=True)
    np.testing.assert_array_equal(got, expected)
    assert n_way_top_k_accuracy(gt_class, torch.from_numpy(probs), n_way=n_way, top_k=top_k, trials=200,
                                seed=3) == pytest.approx(expected.mean(), abs=1e-12)


def test_n_way_seeded_reproducible():
    rng = np.random.default_rng(12)
    probs = rng.dirichlet(np.ones(60), size=4)
    cls = rng.integers(0, 60, size=4)
    a = n_way_top_k_accuracy(cls, probs, n_way=20, trials=300, seed=1)
    assert a == n_way_top_k_accuracy(cls, probs, n_way=20, trials=300, seed=1)
    assert a != n_way_top_k_accuracy(cls, probs, n_way=20, trials=300, seed=2)


def test_n_way_exact_expectation_matches_combinatorics():
    rng = np.random.default_rng(13)
    c, n_way, top_k = 40, 8, 2
    probs = rng.random((5, c))
    cls = rng.integers(0, c, size=5)
    expected = []
    for p, k in zip(probs, cls):
        b = int(np.sum(np.delete(p, k) >= p[k]))
        total = math.comb(c - 1, n_way - 1)
        expected.append(sum(math.comb(b, x) * math.comb(c - 1 - b, n_way - 1 - x) for x in range(top_k)) / total)
    got = n_way_top_k_accuracy(cls, probs, n_way=n_way, top_k=top_k, trials=None, per_image=True)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    sampled = n_way_top_k_accuracy(cls, probs, n_way=n_way, top_k=top_k, trials=4000, seed=0, per_image=True)
    np.testing.assert_allclose(sampled, expected, atol=0.04)


def test_n_way_ties_fail_and_chance():
    probs = np.full((3, 100), 0.01)
    assert n_way_top_k_accuracy([0, 1, 2], probs, trials=50) == 0.0
    assert n_way_top_k_accuracy([0, 1, 2], np.eye(100)[[0, 1, 2]], trials=50) == 1.0
    rng = np.random.default_rng(14)
    random_probs = rng.random((200, 100))
    chance = n_way_top_k_accuracy(rng.integers(0, 100, 200), random_probs, trials=None)
    assert chance == pytest.approx(1 / 50, abs=0.02)


def test_n_way_errors():
    probs = np.random.default_rng(15).random((2, 30))
    with pytest.raises(MetricInputError, match="n_way=50"):
        n_way_top_k_accuracy([0, 1], probs)
    with pytest.raises(MetricInputError, match="integer class indices"):
        n_way_top_k_accuracy([0, 30], probs, n_way=10)
    with pytest.raises(MetricInputError, match="top_k"):
        n_way_top_k_accuracy([0, 1], probs, n_way=10, top_k=11)
    with pytest.raises(MetricInputError, match="2 rows"):
        n_way_top_k_accuracy([0, 1, 2], probs, n_way=10)
    bad = probs.copy()
    bad[0, 3] = np.nan
    with pytest.raises(MetricInputError, match="NaN"):
        n_way_top_k_accuracy([0, 1], bad, n_way=10)


# ------------------------------------------------------------------------------ Inception Score
def _is_direct(p, splits, seed):
    p = p[np.random.RandomState(seed).permutation(len(p))]
    n = len(p)
    scores = []
    for s in range(splits):
        part = p[s * n // splits:(s + 1) * n // splits]
        py = part.mean(axis=0)
        kl = np.sum(part * (np.log(part) - np.log(py)), axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_matches_direct_formula():
    rng = np.random.default_rng(16)
    logits = rng.normal(scale=3, size=(103, 20))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = _is_direct(probs, 10, 7)
    got = inception_score(probs, splits=10, seed=7)
    assert got == pytest.approx(expected, abs=1e-10)
    assert inception_score(logits, splits=10, seed=7, from_logits=True) == pytest.approx(expected, abs=1e-10)
    assert inception_score(torch.from_numpy(probs).float(), splits=10, seed=7) == pytest.approx(expected, abs=1e-5)


def test_inception_score_known_values_and_seed():
    one_hot = np.eye(10)[np.arange(100) % 10]
    assert inception_score(one_hot, splits=1) == pytest.approx((10.0, 0.0))       # 0 log 0 = 0
    assert inception_score(np.full((50, 10), 0.1), splits=5) == pytest.approx((1.0, 0.0))
    rng = np.random.default_rng(17)
    p = rng.dirichlet(np.ones(10), size=60)
    assert inception_score(p, seed=1) == inception_score(p, seed=1)
    assert inception_score(p, seed=1) != inception_score(p, seed=2)


def test_inception_score_errors():
    p = np.full((5, 10), 0.1)
    with pytest.raises(MetricInputError, match="at least splits=10"):
        inception_score(p)
    with pytest.raises(MetricInputError, match="from_logits=True"):
        inception_score(np.ones((20, 10)), splits=2)
    with pytest.raises(MetricInputError, match=r"\(N, C\)"):
        inception_score(np.full(10, 0.1), splits=1)
