"""Retrieval metrics: cosine similarity, rank of the true image, top-k, and seeded k-way accuracy.

Conventions (PROTOCOLS.md §2, §4): brain and image embeddings are L2-normalised and compared by
cosine similarity; the rank of the true image counts every *other* gallery item whose similarity is
>= the true one (ties count against the submission); top-k = rank < k. k-way: for each test item,
k-1 distractors are drawn from the other test images with an RNG seeded only by (seed, k), so every
submission sees the same distractors for a given seed and comparisons are paired.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def cosine_similarity(queries, gallery) -> np.ndarray:
    """(N, D) x (G, D) -> (N, G) cosine similarities (rows L2-normalised first)."""
    q, g = _as_numpy(queries), _as_numpy(gallery)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise BenchError(f"embeddings must be (N, D) and (G, D) with the same D; got {q.shape} and {g.shape}")
    if not (np.isfinite(q).all() and np.isfinite(g).all()):
        raise BenchError("embeddings contain NaN or Inf", fix="check the encoder output (diverged training?)")
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    return q @ g.T


def true_ranks(similarity: np.ndarray, true_index: np.ndarray) -> np.ndarray:
    """0-based rank of the true gallery item per query; ties count against (>= is a loss)."""
    sim = np.asarray(similarity)
    true_index = np.asarray(true_index, dtype=np.int64)
    true_sim = sim[np.arange(len(sim)), true_index]
    beats = sim >= true_sim[:, None]
    beats[np.arange(len(sim)), true_index] = False
    return beats.sum(axis=1)


def top_k(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries whose true item is among the k most similar."""
    return float(np.mean(np.asarray(ranks) < k))


def k_way_distractors(n_items: int, k: int, seed: int) -> np.ndarray:
    """(n_items, k-1) distractor indices: for item i, k-1 distinct others, seeded by (seed, k) only."""
    if not 2 <= k <= n_items:
        raise BenchError(f"k-way needs 2 <= k <= number of test items ({n_items}); got k={k}")
    rng = np.random.default_rng([seed, k, 7919])
    out = np.empty((n_items, k - 1), dtype=np.int64)
    for i in range(n_items):
        picks = rng.choice(n_items - 1, size=k - 1, replace=False)
        out[i] = picks + (picks >= i)          # skip item i itself
    return out


def k_way_correct(similarity: np.ndarray, true_index: np.ndarray, distractors: np.ndarray,
                  top: int = 1) -> np.ndarray:
    """Per query: is the true item within the ``top`` best among itself and its distractors (ties lose)."""
    sim = np.asarray(similarity)
    rows = np.arange(len(sim))
    true_sim = sim[rows, true_index]
    distractor_sim = sim[rows[:, None], distractors]
    return (distractor_sim >= true_sim[:, None]).sum(axis=1) < top


def retrieval_scores(similarity: np.ndarray, true_index: np.ndarray, *, top_ks=(1, 5), k_ways=(),
                     seed: int = 0, item_ids=None) -> tuple[dict[str, float], dict[str, list]]:
    """All retrieval metrics and the per-item outcomes behind them.

    Returns ``metrics`` (``top1``, ``top5``, ``kway/<k>/top1``, ``kway/<k>/top5`` for k >= 50) and
    ``per_item`` (``item_id``, ``rank``, ``kway<k>_top1`` ...), which paired statistics use.
    """
    ranks = true_ranks(similarity, true_index)
    n = len(ranks)
    metrics = {f"top{k}": top_k(ranks, k) for k in top_ks if k <= similarity.shape[1]}
    per_item: dict[str, list] = {"item_id": [str(i) for i in (item_ids if item_ids is not None else range(n))],
                                 "rank": ranks.tolist()}
    for k in k_ways:
        if k > n:
            continue
        distractors = k_way_distractors(n, k, seed)
        for top in (1, 5):
            if top == 5 and k < 50:
                continue
            correct = k_way_correct(similarity, true_index, distractors, top=top)
            metrics[f"kway/{k}/top{top}"] = float(correct.mean())
            per_item[f"kway{k}_top{top}"] = correct.astype(int).tolist()
    return metrics, per_item


def chance_levels(n_gallery: int, top_ks=(1, 5), k_ways=()) -> dict[str, float]:
    """Expected score of a random ranking for each metric ``retrieval_scores`` reports."""
    out = {f"top{k}": min(k, n_gallery) / n_gallery for k in top_ks if k <= n_gallery}
    for k in k_ways:
        if k <= n_gallery:
            out[f"kway/{k}/top1"] = 1 / k
            if k >= 50:
                out[f"kway/{k}/top5"] = 5 / k
    return out


def _register() -> None:
    from bench.metrics import METRICS

    recipe = "cosine similarity of L2-normalised embeddings; rank = #others with similarity >= the true one"
    for k in (1, 5):
        METRICS.register(f"top{k}", higher_is_better=True, ceiling=1.0, inputs="ranks (N,) int",
                         description=f"fraction of test items whose true image is among the {k} most similar",
                         recipe=recipe + "; ties count against")(lambda ranks, _k=k: top_k(ranks, _k))


_register()
