"""Retrieval metrics against naive reimplementations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics.retrieval import (chance_levels, cosine_similarity, dot_unnormalised_gallery, k_way_correct,
                                     k_way_distractors, k_way_expected, pearson_similarity, retrieval_scores,
                                     true_ranks)


def test_cosine_similarity_matches_direct_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(6, 7))
    sim = cosine_similarity(a, b)
    for i in range(5):
        for j in range(6):
            assert sim[i, j] == pytest.approx(a[i] @ b[j] / np.linalg.norm(a[i]) / np.linalg.norm(b[j]))


def test_pearson_and_dot_similarities_match_scipy_and_direct_formula():
    from scipy.stats import pearsonr

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4, 9)) + 3.0, rng.normal(size=(5, 9)) - 1.0
    sim = pearson_similarity(a, b)
    for i in range(4):
        for j in range(5):
            assert sim[i, j] == pytest.approx(pearsonr(a[i], b[j]).statistic)
    dot = dot_unnormalised_gallery(a, 0.5 * b)
    assert dot == pytest.approx((a / np.linalg.norm(a, axis=1, keepdims=True)) @ (0.5 * b).T)


def test_ranks_naive_and_ties_count_against():
    rng = np.random.default_rng(1)
    sim = rng.normal(size=(30, 30))
    true = rng.permutation(30)
    ranks = true_ranks(sim, true)
    for i in range(30):
        naive = sum(1 for j in range(30) if j != true[i] and sim[i, j] >= sim[i, true[i]])
        assert ranks[i] == naive
    tie = np.array([[1.0, 1.0, 0.0]])
    assert true_ranks(tie, np.array([0]))[0] == 1  # a tie is a loss


def test_kway_distractors_seeded_distinct_and_exclude_true_column():
    true = np.random.default_rng(0).permutation(50)
    d1, d2 = k_way_distractors(true, 50, 10, seed=3), k_way_distractors(true, 50, 10, seed=3)
    assert np.array_equal(d1, d2)
    assert not np.array_equal(d1, k_way_distractors(true, 50, 10, seed=4))
    for col, row in zip(true, d1):
        assert col not in row and len(set(row)) == 9 and row.min() >= 0 and row.max() < 50


def test_kway_correct_naive():
    rng = np.random.default_rng(2)
    sim = rng.normal(size=(40, 40))
    true = np.arange(40)
    d = k_way_distractors(true, 40, 4, seed=0)
    got = k_way_correct(sim, true, d)
    naive = [all(sim[i, i] > sim[i, j] for j in d[i]) for i in range(40)]
    assert got.tolist() == naive


def test_exact_kway_equals_the_binomial_ratio_from_the_ranks():
    rng = np.random.default_rng(3)
    sim = rng.normal(size=(40, 40))
    ranks = true_ranks(sim, np.arange(40))
    for k in (2, 4, 10, 40):
        want = [math.comb(39 - r, k - 1) / math.comb(39, k - 1) for r in ranks]
        assert k_way_expected(ranks, 40, k) == pytest.approx(want)
    assert k_way_expected(ranks, 40, 40) == pytest.approx((ranks == 0).astype(float))   # k = N: top-1
    assert k_way_expected(ranks, 40, 40, top=5) == pytest.approx((ranks < 5).astype(float))


def test_perfect_and_chance_scores():
    emb = np.eye(60)
    metrics, items = retrieval_scores(cosine_similarity(emb, emb), np.arange(60), k_ways=(2, 4, 50), seed=0)
    assert metrics["top1"] == 1.0 and metrics["kway/50/top5"] == 1.0 and items["rank"] == [0] * 60
    assert metrics["kway/50/top5/sampled"] == 1.0 and metrics["kway/2/top1/sampled"] == 1.0
    rng = np.random.default_rng(0)
    tops = [retrieval_scores(rng.normal(size=(60, 60)), np.arange(60), k_ways=(2,), seed=s)[0] for s in range(40)]
    assert np.mean([t["kway/2/top1"] for t in tops]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([t["kway/2/top1/sampled"] for t in tops]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([t["top5"] for t in tops]) == pytest.approx(chance_levels(60)["top5"], abs=0.03)


def test_nan_embeddings_rejected():
    with pytest.raises(BenchError, match="NaN"):
        cosine_similarity(np.full((2, 3), np.nan), np.ones((2, 3)))
