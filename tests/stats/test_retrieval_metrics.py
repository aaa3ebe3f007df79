"""Retrieval metrics against naive reimplementations."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics.retrieval import (chance_levels, cosine_similarity, k_way_correct, k_way_distractors,
                                     retrieval_scores, true_ranks)


def test_cosine_similarity_matches_direct_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(6, 7))
    sim = cosine_similarity(a, b)
    for i in range(5):
        for j in range(6):
            assert sim[i, j] == pytest.approx(a[i] @ b[j] / np.linalg.norm(a[i]) / np.linalg.norm(b[j]))


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


def test_kway_distractors_seeded_distinct_and_exclude_self():
    d1, d2 = k_way_distractors(50, 10, seed=3), k_way_distractors(50, 10, seed=3)
    assert np.array_equal(d1, d2)
    assert not np.array_equal(d1, k_way_distractors(50, 10, seed=4))
    for i, row in enumerate(d1):
        assert i not in row and len(set(row)) == 9


def test_kway_correct_naive():
    rng = np.random.default_rng(2)
    sim = rng.normal(size=(40, 40))
    true = np.arange(40)
    d = k_way_distractors(40, 4, seed=0)
    got = k_way_correct(sim, true, d)
    naive = [all(sim[i, i] > sim[i, j] for j in d[i]) for i in range(40)]
    assert got.tolist() == naive


def test_perfect_and_chance_scores():
    emb = np.eye(60)
    metrics, items = retrieval_scores(cosine_similarity(emb, emb), np.arange(60), k_ways=(2, 4, 50), seed=0)
    assert metrics["top1"] == 1.0 and metrics["kway/50/top5"] == 1.0 and items["rank"] == [0] * 60
    rng = np.random.default_rng(0)
    tops = [retrieval_scores(rng.normal(size=(60, 60)), np.arange(60), k_ways=(2,), seed=s)[0] for s in range(40)]
    assert np.mean([t["kway/2/top1"] for t in tops]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([t["top5"] for t in tops]) == pytest.approx(chance_levels(60)["top5"], abs=0.03)


def test_nan_embeddings_rejected():
    with pytest.raises(BenchError, match="NaN"):
        cosine_similarity(np.full((2, 3), np.nan), np.ones((2, 3)))
