"""k-way retrieval over gallery columns: permuted and larger galleries, exact vs sampled, ATM's sampler.

Issue #11 item 4: distractors used to skip the query's *row* index instead of its true gallery column,
so perfect retrieval scored 0.62 at 50-way on a gallery not in query order. Issue #18: the headline
k-way is the exact expectation ``mean_i C(N-1-r_i, k-1)/C(N-1, k-1)`` (hypergeometric for top-5),
checked here against Monte-Carlo draws of our sampler and of a transcription of ATM's.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from bench.metrics.retrieval import (batchwise_top1, k_way_correct, k_way_distractors, k_way_expected,
                                     retrieval_scores, true_ranks)


def _perfect(true_cols: np.ndarray, n_gallery: int) -> np.ndarray:
    """Similarity where each query's true column scores 1 and every other column 0."""
    sim = np.zeros((len(true_cols), n_gallery))
    sim[np.arange(len(true_cols)), true_cols] = 1.0
    return sim


@pytest.mark.parametrize("k", [2, 4, 10, 50, 100])
def test_perfect_retrieval_scores_one_on_a_permuted_gallery(k):
    true = np.random.default_rng(7).permutation(100)            # gallery not in query order
    metrics, _ = retrieval_scores(_perfect(true, 100), true, k_ways=(k,), seed=0)
    for name in (f"kway/{k}/top1", f"kway/{k}/top1/sampled"):
        assert metrics[name] == 1.0, name
    if k >= 50:
        assert metrics[f"kway/{k}/top5"] == metrics[f"kway/{k}/top5/sampled"] == 1.0


@pytest.mark.parametrize("k", [2, 4, 10, 50, 100, 150])
def test_perfect_retrieval_scores_one_on_a_gallery_larger_than_the_queries(k):
    rng = np.random.default_rng(8)
    true = rng.choice(150, size=40, replace=False)              # 40 queries, 150 gallery columns
    metrics, items = retrieval_scores(_perfect(true, 150), true, k_ways=(k,), seed=1)
    assert metrics[f"kway/{k}/top1"] == metrics[f"kway/{k}/top1/sampled"] == 1.0
    assert len(items[f"kway{k}_top1"]) == 40


def test_distractors_come_from_all_gallery_columns_and_never_the_true_one():
    true = np.random.default_rng(9).choice(150, size=40, replace=False)
    d = k_way_distractors(true, 150, 50, seed=2)
    assert all(t not in row for t, row in zip(true, d))
    unused = set(range(150)) - set(true.tolist())
    assert unused & set(d.ravel().tolist())                     # columns no query owns are drawn too
    assert np.array_equal(d, k_way_distractors(true, 150, 50, seed=2))   # identical across submissions


def _rank_data(n: int = 60, seed: int = 0, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.permutation(n)
    sim = rng.normal(size=(n, n))
    sim[np.arange(n), true] += 1.5                              # some signal: ranks spread over 0..n-1
    return (np.round(sim, 1) if ties else sim), true


@pytest.mark.parametrize("k,top", [(2, 1), (10, 1), (50, 1), (50, 5)])
def test_exact_kway_agrees_with_monte_carlo_of_our_sampler(k, top):
    sim, true = _rank_data()
    exact = k_way_expected(true_ranks(sim, true), 60, k, top).mean()
    draws = np.array([k_way_correct(sim, true, k_way_distractors(true, 60, k, seed), top).mean()
                      for seed in range(300)])
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * se + 1e-9, (draws.mean(), exact, se)


def _atm_evaluate(sim: np.ndarray, labels: np.ndarray, k: int, rnd: random.Random) -> tuple[float, float]:
    """Transcription of EEG_Image_decode Retrieval/ATMS_retrieval.py::evaluate_model's k-way loop.

    Gallery column c is "class" c; for each query: selected = random.sample(others, k-1) + [label];
    top-1 = selected[argmax(logits)] == label (the true class is last: a tie loses); top-5 (k >= 50):
    label in the topk(5) of the logits.
    """
    n_cls = sim.shape[1]
    correct = top5 = 0
    for idx, label in enumerate(labels):
        possible = [c for c in range(n_cls) if c != label]
        selected = rnd.sample(possible, k - 1) + [int(label)]
        logits = sim[idx, selected]
        correct += selected[int(np.argmax(logits))] == label
        if k >= 50:
            order = np.argsort(-logits, kind="stable")[:5]
            top5 += label in [selected[i] for i in order]
    return correct / len(labels), top5 / len(labels)


@pytest.mark.parametrize("k", [4, 50])
def test_exact_kway_agrees_with_a_transcription_of_atms_sampler(k):
    sim, true = _rank_data(seed=1)
    rnd = random.Random(0)
    draws = np.array([_atm_evaluate(sim, true, k, rnd) for _ in range(200)])   # 200 "epochs"
    ranks = true_ranks(sim, true)
    for col, top in ((0, 1), (1, 5)):
        if top == 5 and k < 50:
            continue
        exact = k_way_expected(ranks, 60, k, top).mean()
        se = draws[:, col].std(ddof=1) / np.sqrt(len(draws))
        assert abs(draws[:, col].mean() - exact) < 4 * se + 1e-9, (top, draws[:, col].mean(), exact)


def test_ties_lose_in_the_exact_kway_as_in_atms_top1():
    sim, true = _rank_data(seed=2, ties=True)                   # rounded: many ties with the true item
    ranks = true_ranks(sim, true)
    rnd = random.Random(1)
    draws = np.array([_atm_evaluate(sim, true, 10, rnd)[0] for _ in range(300)])
    exact = k_way_expected(ranks, 60, 10).mean()
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * se
    # counting ties as wins would give a visibly higher expectation
    strict = (sim > sim[np.arange(60), true][:, None]).sum(1)
    assert k_way_expected(strict, 60, 10).mean() > exact + 6 * se


def test_batchwise_top1_estimates_the_exact_batch_way_value():
    sim, true = _rank_data(n=90, seed=3)
    ranks = true_ranks(sim, true)
    outcomes = np.array([batchwise_top1(sim, true, 30, seed) for seed in range(200)])
    assert np.isnan(outcomes).sum(axis=1).tolist() == [0] * 200  # 90 = 3 batches of 30, nothing dropped
    per_draw = np.nanmean(outcomes, axis=1)
    se = per_draw.std(ddof=1) / np.sqrt(len(per_draw))
    assert abs(per_draw.mean() - k_way_expected(ranks, 90, 30).mean()) < 4 * se
    dropped = batchwise_top1(sim[:80, :80], np.arange(80), 30, 0)
    assert np.isnan(dropped).sum() == 20                        # 80 = 2 batches of 30 + 20 dropped
