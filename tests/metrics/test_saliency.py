"""Saliency metrics against direct numpy / scipy / PIL computations of the MIT benchmark recipes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
import torch
from PIL import Image

from bench.metrics._common import MetricInputError
from bench.metrics.saliency import (cc, fixation_density, nss, other_fixations_map, saliency_scores, shuffled_auc,
                                    shuffled_auc_exact)


def _maps(h=32, w=40, n_fix=25, seed=0):
    rng = np.random.default_rng(seed)
    fix = np.zeros((h, w))
    fix.flat[rng.choice(h * w, n_fix, replace=False)] = 1
    smap = scipy.ndimage.gaussian_filter(fix, 3) + 0.3 * rng.random((h, w))
    return smap, fix


def _pil_bicubic(x: np.ndarray, shape) -> np.ndarray:
    """Independent resize path: PIL bicubic (Keys a=-0.5, antialiased) on a float32 image."""
    return np.asarray(Image.fromarray(x.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BICUBIC),
                      dtype=np.float64)


# ------------------------------------------------------------------------------------------ NSS
def test_nss_matches_direct_formula():
    smap, fix = _maps()
    z = (smap - smap.mean()) / smap.std(ddof=1)
    assert nss(smap, fix) == pytest.approx(z[fix > 0].mean(), abs=1e-12)
    assert nss(torch.from_numpy(smap), torch.from_numpy(fix)) == pytest.approx(z[fix > 0].mean(), abs=1e-12)


def test_nss_resizes_map_to_fixation_size():
    smap, fix = _maps(h=60, w=80)
    small = smap[::3, ::2].copy()                    # (20, 40) map for a (60, 80) fixation map
    big = _pil_bicubic(small, fix.shape)
    z = (big - big.mean()) / big.std(ddof=1)
    assert nss(small, fix) == pytest.approx(z[fix > 0].mean(), abs=1e-5)


def test_nss_counts_collapse_and_constant_map():
    smap, fix = _maps()
    counts = fix * 3
    assert nss(smap, counts) == pytest.approx(nss(smap, fix), abs=1e-12)
    assert nss(np.full_like(smap, 2.0), fix) == 0.0


# ------------------------------------------------------------------------------------------- CC
def test_cc_matches_corrcoef_and_resizes():
    smap, fix = _maps()
    dens = fixation_density(fix, cycles_per_image=4)
    assert cc(smap, dens) == pytest.approx(np.corrcoef(smap.ravel(), dens.ravel())[0, 1], abs=1e-12)
    small = smap[::2, ::2].copy()
    big = _pil_bicubic(small, dens.shape)
    assert cc(small, dens) == pytest.approx(scipy.stats.pearsonr(big.ravel(), dens.ravel())[0], abs=1e-5)


def test_cc_constant_and_errors():
    smap, fix = _maps()
    assert cc(np.ones_like(smap), smap) == 0.0
    assert cc(smap, np.zeros_like(smap)) == 0.0
    bad = smap.copy()
    bad[3, 4] = np.nan
    with pytest.raises(MetricInputError, match="saliency_map.*NaN"):
        cc(bad, smap)
    with pytest.raises(MetricInputError, match=r"2-D map \(H, W\)"):
        cc(np.stack([smap, smap]), smap)


# ---------------------------------------------------------------------------------- density map
@pytest.mark.parametrize("shape,cycles", [((128, 100), 4), ((200, 256), 8)])
def test_fixation_density_is_gaussian_blur(shape, cycles):
    rng = np.random.default_rng(1)
    fix = np.zeros(shape)
    fix.flat[rng.choice(fix.size, 30, replace=False)] = 1
    n = 2 ** int(np.ceil(np.log2(max(shape) + max(shape) % 2)))
    sigma = n * np.sqrt(np.log(2) / 2) / (np.pi * cycles)
    expected = scipy.ndimage.gaussian_filter(fix, sigma, mode="constant", cval=0.0, truncate=12)
    got = fixation_density(fix, cycles_per_image=cycles)
    assert got.shape == shape
    np.testing.assert_allclose(got, expected, atol=1e-9 * expected.max())


def test_fixation_density_transfer_function_halves_at_cutoff():
    """A cosine at the cut-off frequency (cycles per padded-image width n) comes out at half amplitude."""
    n, fc = 256, 8
    x = np.arange(n)
    wave = np.cos(2 * np.pi * fc * x / n)[None, :] * np.ones((n, 1))
    out = fixation_density(wave, cycles_per_image=fc)
    centre = out[n // 2, n // 4:3 * n // 4]
    ref = wave[n // 2, n // 4:3 * n // 4]
    ratio = np.dot(centre, ref) / np.dot(ref, ref)
    assert ratio == pytest.approx(0.5, abs=0.02)


# --------------------------------------------------------------------------------------- s-AUC
def _mit_auc_shuffled(saliency_map, fixation_map, other_map, n_splits=100, step=0.1, seed=0):
    """A line-by-line transcription of MIT AUC_shuffled.m (same-size maps), with our RNG stream."""
    s = saliency_map.astype(np.float64)
    s = (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else np.zeros_like(s)
    S, F, Oth = s.ravel(), fixation_map.ravel(), other_map.ravel()
    Sth = S[F > 0]
    n_fix = len(Sth)
    ind = np.flatnonzero(Oth > 0)
    n_oth = min(n_fix, len(ind))
    rng = np.random.default_rng(seed)
    randfix = np.empty((n_oth, n_splits))
    for i in range(n_splits):
        randind = ind[rng.permutation(len(ind))]
        randfix[:, i] = S[randind[:n_oth]]
    aucs = []
    for k in range(n_splits):
        curfix = randfix[:, k]
        allthreshes = np.arange(0, max(Sth.max(), curfix.max()) + 1e-12, step)[::-1]
        tp = [0.0] + [np.sum(Sth >= t) / n_fix for t in allthreshes] + [1.0]
        fp = [0.0] + [np.sum(curfix >= t) / n_oth for t in allthreshes] + [1.0]
        aucs.append(np.trapezoid(tp, fp))
    return float(np.mean(aucs))


def _other(shape, n=40, seed=2):
    rng = np.random.default_rng(seed)
    other = np.zeros(shape)
    other.flat[rng.choice(other.size, n, replace=False)] = 1
    return other


@pytest.mark.parametrize("n_splits,step,seed", [(100, 0.1, 0), (17, 0.05, 3)])
def test_shuffled_auc_matches_matlab_transcription(n_splits, step, seed):
    smap, fix = _maps()
    other = _other(fix.shape)
    expected = _mit_auc_shuffled(smap, fix, other, n_splits, step, seed)
    assert shuffled_auc(smap, fix, other, n_splits=n_splits, step=step, seed=seed) == pytest.approx(expected, abs=1e-12)


def test_shuffled_auc_fewer_others_than_fixations_and_seed():
    smap, fix = _maps(n_fix=60)
    other = _other(fix.shape, n=20)
    assert shuffled_auc(smap, fix, other) == pytest.approx(_mit_auc_shuffled(smap, fix, other), abs=1e-12)
    many = _other(fix.shape, 200)
    assert shuffled_auc(smap, fix, many, seed=5) == shuffled_auc(smap, fix, many, seed=5)
    assert shuffled_auc(smap, fix, many, seed=5) != shuffled_auc(smap, fix, many, seed=6)


def test_shuffled_auc_exact_matches_mann_whitney():
    smap, fix = _maps()
    other = _other(fix.shape, n=80)
    pos = smap[fix > 0]
    neg = smap[other > 0]
    u = scipy.stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    assert shuffled_auc_exact(smap, fix, other) == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)
    # with ties (a quantised map), ties count one half
    q = np.round(smap * 4) / 4
    u = scipy.stats.mannwhitneyu(q[fix > 0], q[other > 0], alternative="two-sided").statistic
    assert shuffled_auc_exact(q, fix, other) == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)


def test_shuffled_auc_constant_map_is_chance_and_perfect_map_is_one():
    smap, fix = _maps()
    other = _other(fix.shape)
    other[fix > 0] = 0
    assert shuffled_auc(np.full_like(smap, 7.0), fix, other) == pytest.approx(0.5)
    assert shuffled_auc_exact(np.full_like(smap, 7.0), fix, other) == pytest.approx(0.5)
    assert shuffled_auc(fix, fix, other) == pytest.approx(1.0)
    assert shuffled_auc_exact(fix, fix, other) == pytest.approx(1.0)
    assert shuffled_auc_exact(-fix, fix, other) == pytest.approx(0.0)


def test_saliency_input_errors():
    smap, fix = _maps()
    other = _other(fix.shape)
    with pytest.raises(MetricInputError, match="no fixations"):
        nss(smap, np.zeros_like(fix))
    with pytest.raises(MetricInputError, match="other_fixations.*no fixations"):
        shuffled_auc(smap, fix, np.zeros_like(fix))
    with pytest.raises(MetricInputError, match="expected \\(32, 40\\)"):
        shuffled_auc_exact(smap, fix, other[:10])
    bad = smap.copy()
    bad[0, 0] = np.inf
    with pytest.raises(MetricInputError, match="NaN/Inf"):
        shuffled_auc(bad, fix, other)


# -------------------------------------------------------------------------------- dataset level
def test_other_fixations_map_union_excludes_self_and_rescales():
    rng = np.random.default_rng(3)
    maps = []
    for i in range(6):
        m = np.zeros((20, 30))
        m[rng.integers(0, 20), rng.integers(0, 30)] = 1
        maps.append(m)
    maps[5] = np.zeros((40, 60))
    maps[5][10, 20] = 1                                  # -> (5, 10) at (20, 30)
    other = other_fixations_map(maps, 0, n_other=10, seed=0)
    expected = np.zeros((20, 30), dtype=bool)
    for m in maps[1:5]:
        expected |= m > 0
    expected[5, 10] = True
    np.testing.assert_array_equal(other, expected)      # n_other >= N - 1: all the others
    chosen = np.random.default_rng(4).choice(np.arange(1, 6), 2, replace=False)
    expected = np.zeros((20, 30), dtype=bool)
    for i in chosen:
        if i == 5:
            expected[5, 10] = True
        else:
            expected |= maps[i] > 0
    np.testing.assert_array_equal(other_fixations_map(maps, 0, n_other=2, seed=4), expected)
    with pytest.raises(MetricInputError, match="at least 2"):
        other_fixations_map(maps[:1], 0)


def test_saliency_scores_is_the_per_image_loop():
    rng = np.random.default_rng(5)
    fmaps, smaps = [], []
    for i in range(4):
        s, f = _maps(seed=i)
        fmaps.append(f)
        smaps.append(s + 0.1 * rng.random(s.shape))
    out = saliency_scores(smaps, fmaps, n_other=2, n_splits=10, seed=1)
    for i in range(4):
        seed = 1 * 100003 + i
        other = other_fixations_map(fmaps, i, 2, seed=seed)
        assert out["per_image"]["nss"][i] == nss(smaps[i], fmaps[i])
        assert out["per_image"]["cc"][i] == cc(smaps[i], fixation_density(fmaps[i]))
        assert out["per_image"]["s_auc"][i] == shuffled_auc(smaps[i], fmaps[i], other, 10, 0.1, seed)
        assert out["per_image"]["s_auc_exact"][i] == shuffled_auc_exact(smaps[i], fmaps[i], other)
    assert out["scores"]["nss"] == pytest.approx(out["per_image"]["nss"].mean())
    with pytest.raises(MetricInputError, match="one saliency map per image"):
        saliency_scores(smaps[:3], fmaps)
