"""Retrieval metrics: similarities, rank of the true image, top-k, exact and sampled k-way accuracy.

Conventions (PROTOCOLS.md §2, §4):

- **Similarity** (``SIMILARITIES``): ``cosine`` of L2-normalised brain and image embeddings (the
  default); ``pearson`` = cosine after centring *each vector on its own mean* (AlignVis
  ``src/downstream.py::retrieval``); ``dot-unnormalised-gallery`` = dot product of the L2-normalised
  brain embedding with the gallery vectors *as they are* (NICE ``nice_stand.py`` L374-375, whose
  concept centres are means of unit vectors, norms < 1).
- **Rank and ties**: the rank of the true gallery column counts every *other* column whose
  similarity is >= the true one, so **a tie counts against the submission** (ATM's top-1 does the
  same; NICE/AlignVis break ties by ``torch.topk`` order, MindEye by the higher index -- see
  ``tests/metrics/test_retrieval_peers.py``). top-k = rank < k.
- **Exact k-way** (the headline ``kway/<k>/top<t>``): the expectation, over uniformly drawn sets of
  k-1 distractor columns (all columns but the query's true one), of "the true column is among the t
  best of the k". With r = rank (others that beat or tie the true one) and M = G-1 other columns,
  the number of beaters drawn is hypergeometric, so P(correct) = HypergeomCDF(t-1; M, r, k-1); for
  t = 1 this is ``C(M-r, k-1) / C(M, k-1)``. Exact, seedless, and equal to the expectation of
  ATM's sampler (``ATMS_retrieval.py::evaluate_model``). Ties lose, as in the rank.
- **Sampled k-way** (``kway/<k>/top<t>/sampled``, the paper-comparable draw): for query i, k-1
  distinct distractors drawn among the gallery's *columns* excluding the query's true column
  ``true_index[i]``, with an RNG seeded only by (seed, k) -- identical across submissions, so
  comparisons are paired.
- **Batch-wise (MindEye1)** ``batch<B>/top1``: the test items are shuffled (seeded) and cut into
  floor(N/B) disjoint batches of B (the remainder is dropped, as a ``drop_last`` loader does); within
  a batch the gallery is the batch's own true columns. Its expectation equals the exact B-way value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

import numpy as np

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.metrics import MetricInfo


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _checked(queries, gallery) -> tuple[np.ndarray, np.ndarray]:
    q, g = _as_numpy(queries), _as_numpy(gallery)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise BenchError(f"embeddings must be (N, D) and (G, D) with the same D; got {q.shape} and {g.shape}")
    if not (np.isfinite(q).all() and np.isfinite(g).all()):
        raise BenchError("embeddings contain NaN or Inf", fix="check the encoder output (diverged training?)")
    return q, g


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_similarity(queries, gallery) -> np.ndarray:
    """(N, D) x (G, D) -> (N, G) cosine similarities (rows L2-normalised first)."""
    q, g = _checked(queries, gallery)
    return _l2(q) @ _l2(g).T


def pearson_similarity(queries, gallery) -> np.ndarray:
    """(N, G) Pearson r between rows: each vector centred on its own mean, then cosine (AlignVis)."""
    q, g = _checked(queries, gallery)
    return _l2(q - q.mean(axis=1, keepdims=True)) @ _l2(g - g.mean(axis=1, keepdims=True)).T


def dot_unnormalised_gallery(queries, gallery) -> np.ndarray:
    """(N, G) dot products of L2-normalised queries with the gallery rows as given (NICE's centres)."""
    q, g = _checked(queries, gallery)
    return _l2(q) @ g.T


SIMILARITIES: dict[str, Callable[..., np.ndarray]] = {
    "cosine": cosine_similarity,
    "pearson": pearson_similarity,
    "dot-unnormalised-gallery": dot_unnormalised_gallery,
}


def similarity(queries, gallery, kind: str = "cosine") -> np.ndarray:
    """(N, G) scores of ``kind`` (a key of :data:`SIMILARITIES`)."""
    if kind not in SIMILARITIES:
        raise BenchError(f"unknown similarity '{kind}'", fix=f"use one of {sorted(SIMILARITIES)}")
    return SIMILARITIES[kind](queries, gallery)


def true_ranks(similarity: np.ndarray, true_index: np.ndarray) -> np.ndarray:
    """0-based rank of the true gallery column per query; ties count against (>= is a loss)."""
    sim = np.asarray(similarity)
    true_index = np.asarray(true_index, dtype=np.int64)
    true_sim = sim[np.arange(len(sim)), true_index]
    beats = sim >= true_sim[:, None]
    beats[np.arange(len(sim)), true_index] = False
    return beats.sum(axis=1)


def top_k(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries whose true item is among the k most similar."""
    return float(np.mean(np.asarray(ranks) < k))


def _check_k(k: int, n_gallery: int) -> None:
    if not 2 <= k <= n_gallery:
        raise BenchError(f"k-way needs 2 <= k <= number of gallery items ({n_gallery}); got k={k}")


def k_way_expected(ranks: np.ndarray, n_gallery: int, k: int, top: int = 1) -> np.ndarray:
    """Per query, the exact probability of a k-way success over uniform distractor sets.

    P = P[X <= top-1], X ~ Hypergeometric(population M = n_gallery-1, successes = rank, draws = k-1):
    X is the number of drawn distractors that beat or tie the true item. For ``top=1`` this is
    ``C(M - rank, k-1) / C(M, k-1)``.
    """
    from scipy.stats import hypergeom

    _check_k(k, n_gallery)
    r = np.asarray(ranks, dtype=np.int64)
    return np.asarray(hypergeom.cdf(top - 1, n_gallery - 1, r, k - 1), dtype=np.float64)


def k_way_distractors(true_index: np.ndarray, n_gallery: int, k: int, seed: int) -> np.ndarray:
    """(N, k-1) gallery *column* indices: for query i, k-1 distinct columns other than ``true_index[i]``.

    Drawn with an RNG seeded by (seed, k) only, so every submission sees the same distractors.
    """
    true_index = np.asarray(true_index, dtype=np.int64)
    _check_k(k, n_gallery)
    if len(true_index) and (true_index.min() < 0 or true_index.max() >= n_gallery):
        raise BenchError(f"true gallery columns must lie in [0, {n_gallery}); got {true_index.min()}..{true_index.max()}")
    rng = np.random.default_rng([seed, k, 7919])
    out = np.empty((len(true_index), k - 1), dtype=np.int64)
    for i, col in enumerate(true_index):
        picks = rng.choice(n_gallery - 1, size=k - 1, replace=False)
        out[i] = picks + (picks >= col)          # skip the query's true column
    return out


def k_way_correct(similarity: np.ndarray, true_index: np.ndarray, distractors: np.ndarray,
                  top: int = 1) -> np.ndarray:
    """Per query: is the true item within the ``top`` best among itself and its distractors (ties lose)."""
    sim = np.asarray(similarity)
    rows = np.arange(len(sim))
    true_index = np.asarray(true_index, dtype=np.int64)
    true_sim = sim[rows, true_index]
    distractor_sim = sim[rows[:, None], distractors]
    return (distractor_sim >= true_sim[:, None]).sum(axis=1) < top


def batchwise_top1(similarity: np.ndarray, true_index: np.ndarray, batch: int, seed: int) -> np.ndarray:
    """MindEye1-style batch retrieval: per query, 1.0/0.0 if correct within its batch, NaN if dropped.

    Queries are shuffled with an RNG seeded by (seed, batch) and cut into floor(N/batch) batches; in a
    batch the gallery is the true columns of the batch's queries (they must be distinct), ties lose.
    """
    sim = np.asarray(similarity)
    true_index = np.asarray(true_index, dtype=np.int64)
    n = len(sim)
    if not 2 <= batch <= n:
        raise BenchError(f"batch retrieval needs 2 <= batch <= number of test items ({n}); got {batch}")
    if len(np.unique(true_index)) != n:
        raise BenchError("batch retrieval needs one distinct gallery column per test item",
                         fix="use a stimulus gallery with one test item per image")
    order = np.random.default_rng([seed, batch, 104723]).permutation(n)
    out = np.full(n, np.nan)
    for b in range(n // batch):
        rows = order[b * batch:(b + 1) * batch]
        sub = sim[np.ix_(rows, true_index[rows])]
        out[rows] = (true_ranks(sub, np.arange(batch)) == 0).astype(float)
    return out


def retrieval_scores(similarity: np.ndarray, true_index: np.ndarray, *, top_ks=(1, 5), k_ways=(),
                     seed: int = 0, item_ids=None, sampled: bool = True,
                     batch_sizes=()) -> tuple[dict[str, float], dict[str, list]]:
    """All retrieval metrics and the per-item outcomes behind them.

    ``metrics``: ``top<k>``; ``kway/<k>/top1`` (and ``top5`` for k >= 50) = the exact expectation;
    with ``sampled``, ``kway/<k>/top<t>/sampled`` = the seeded draw; ``batch<B>/top1`` for each of
    ``batch_sizes``. ``per_item``: ``item_id``, ``rank``, ``kway<k>_top<t>`` (probabilities),
    ``kway<k>_top<t>_sampled`` (0/1), ``batch<B>_top1`` (0/1, NaN for dropped items) -- the inputs of
    paired statistics. The gallery may be larger than the queries and in any column order.
    """
    similarity = np.asarray(similarity)
    true_index = np.asarray(true_index, dtype=np.int64)
    ranks = true_ranks(similarity, true_index)
    n, n_gallery = similarity.shape
    metrics = {f"top{k}": top_k(ranks, k) for k in top_ks if k <= n_gallery}
    per_item: dict[str, list] = {"item_id": [str(i) for i in (item_ids if item_ids is not None else range(n))],
                                 "rank": ranks.tolist()}
    for k in k_ways:
        if k > n_gallery:
            continue
        tops = [t for t in (1, 5) if t == 1 or k >= 50]
        for top in tops:
            expected = k_way_expected(ranks, n_gallery, k, top)
            metrics[f"kway/{k}/top{top}"] = float(expected.mean())
            per_item[f"kway{k}_top{top}"] = expected.tolist()
        if sampled:
            distractors = k_way_distractors(true_index, n_gallery, k, seed)
            for top in tops:
                correct = k_way_correct(similarity, true_index, distractors, top=top)
                metrics[f"kway/{k}/top{top}/sampled"] = float(correct.mean())
                per_item[f"kway{k}_top{top}_sampled"] = correct.astype(int).tolist()
    for b in batch_sizes:
        if b > n:
            continue
        outcome = batchwise_top1(similarity, true_index, b, seed)
        metrics[f"batch{b}/top1"] = float(np.nanmean(outcome))
        per_item[f"batch{b}_top1"] = [None if np.isnan(v) else float(v) for v in outcome]
    return metrics, per_item


def chance_levels(n_gallery: int, top_ks=(1, 5), k_ways=(), batch_sizes=()) -> dict[str, float]:
    """Expected score of a random ranking for each metric ``retrieval_scores`` reports."""
    out = {f"top{k}": min(k, n_gallery) / n_gallery for k in top_ks if k <= n_gallery}
    for k in k_ways:
        if k <= n_gallery:
            for suffix in ("", "/sampled"):
                out[f"kway/{k}/top1{suffix}"] = 1 / k
                if k >= 50:
                    out[f"kway/{k}/top5{suffix}"] = 5 / k
    for b in batch_sizes:
        out[f"batch{b}/top1"] = 1 / b
    return out


DEFAULT_K_WAYS = (2, 4, 10, 50, 100)
_KWAY_NAME = re.compile(r"^kway/(\d+)/top(\d+)(/sampled)?$")
_BATCH_NAME = re.compile(r"^batch(\d+)/top1$")
_TOPK_NAME = re.compile(r"^top(\d+)$")
_RANK_RECIPE = "rank = #other gallery columns with similarity >= the true one (ties count against)"


def _kway_info(name: str) -> MetricInfo | None:
    """Registry entry of ``kway/<k>/top<t>`` (exact expectation) and ``kway/<k>/top<t>/sampled`` (one draw);
    None for a name that is not of this form."""
    from bench.metrics import MetricInfo

    m = _KWAY_NAME.match(name)
    if not m:
        return None
    k, top, sampled = int(m.group(1)), int(m.group(2)), bool(m.group(3))
    if sampled:
        return MetricInfo(
            name=name, percent=True, chance=top / k, ceiling=1.0,
            fn=lambda similarity, true_index, seed: float(k_way_correct(
                similarity, true_index, k_way_distractors(true_index, np.shape(similarity)[1], k, seed), top).mean()),
            inputs="similarity (N, G), true_index (N,) gallery columns, seed int",
            description=f"{k}-way top-{top}: one seeded draw of {k - 1} distractor columns per query",
            recipe="ATM ATMS_retrieval.py::evaluate_model (k-1 distinct other classes + the true one), seeded by "
                   "(seed, k), distractors among gallery columns other than the true one; ties lose")
    return MetricInfo(
        name=name, percent=True, chance=top / k, ceiling=1.0,
        fn=lambda ranks, n_gallery: float(k_way_expected(ranks, n_gallery, k, top).mean()),
        inputs="ranks (N,) int, n_gallery int",
        description=f"{k}-way top-{top}: exact expectation over uniform sets of {k - 1} distractors",
        recipe="mean_i HypergeomCDF(top-1; G-1, r_i, k-1) = mean_i C(G-1-r_i, k-1)/C(G-1, k-1) for top-1; "
               "ties lose; equals the expectation of ATM's evaluate_model sampler; " + _RANK_RECIPE)


def _batch_info(name: str) -> MetricInfo | None:
    """Registry entry of ``batch<B>/top1`` (MindEye1 batch retrieval)."""
    from bench.metrics import MetricInfo

    m = _BATCH_NAME.match(name)
    if not m:
        return None
    b = int(m.group(1))
    return MetricInfo(
        name=name, percent=True, chance=1 / b, ceiling=1.0,
        fn=lambda similarity, true_index, seed: float(np.nanmean(batchwise_top1(similarity, true_index, b, seed))),
        inputs="similarity (N, N), true_index (N,), seed int",
        description=f"MindEye1 {b}-way: top-1 within seeded disjoint batches of {b} test items",
        recipe="MindEye1 src/utils.py batchwise_cosine_similarity + topk within each batch (direction "
               "brain->image; MindEye's 'fwd' label is image->brain); remainder dropped; ties lose")


def _topk_info(name: str) -> MetricInfo | None:
    """Registry entry of ``top<k>`` for any k (top1/top5 are registered by name)."""
    from bench.metrics import MetricInfo

    m = _TOPK_NAME.match(name)
    if not m:
        return None
    k = int(m.group(1))
    return MetricInfo(name=name, fn=lambda ranks: top_k(ranks, k), percent=True, ceiling=1.0,
                      inputs="ranks (N,) int",
                      description=f"fraction of test items whose true image is among the {k} most similar",
                      recipe=_RANK_RECIPE)


def _register() -> None:
    from bench.metrics import METRICS

    recipe = "cosine similarity of L2-normalised embeddings; " + _RANK_RECIPE
    for k in (1, 5):
        METRICS.register(f"top{k}", higher_is_better=True, ceiling=1.0, inputs="ranks (N,) int", percent=True,
                         description=f"fraction of test items whose true image is among the {k} most similar",
                         recipe=recipe)(lambda ranks, _k=k: top_k(ranks, _k))
    for k in DEFAULT_K_WAYS:                 # the default sizes by name; any other k through the family
        for top in (1, 5) if k >= 50 else (1,):
            for suffix in ("", "/sampled"):
                name = f"kway/{k}/top{top}{suffix}"
                METRICS.register(name)(_kway_info(name))
    METRICS.register_family("kway/", _kway_info)
    METRICS.register_family("batch", _batch_info)
    METRICS.register_family("top", _topk_info)


_register()
