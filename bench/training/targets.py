"""Image targets of brain-encoder training: normalisation, in-memory training sets, checks.

Shared by every task kind that trains an encoder against image embeddings (retrieval,
reconstruction): the recipe's ``normalise`` method (``bench.training.losses.NORMALISATIONS``)
decides the centring; targets are L2-normalised float32 rows.
"""

from __future__ import annotations

import numpy as np

from bench.errors import ConfigError


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 (zero rows stay zero)."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def normalise_targets(train_embeddings: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The centring vector of ``method`` (the mean of the training image embeddings for
    'train-mean-center-l2' / legacy 'center-l2'; zeros otherwise) and the normalised training
    embeddings (:func:`image_targets`). Methods: ``bench.training.losses.NORMALISATIONS``."""
    from bench.training.losses import centres_on_training_mean

    centre = (train_embeddings.mean(axis=0) if centres_on_training_mean(method)
              else np.zeros(train_embeddings.shape[1]))
    centre = centre.astype(np.float32)
    return centre, image_targets(train_embeddings, centre, method)


def image_targets(embeddings: np.ndarray, centre: np.ndarray, method: str) -> np.ndarray:
    """Image embeddings as the recipe normalises them: minus ``centre``, centred per vector for
    'per-vector-center-l2' (AlignVis), then L2 (float32)."""
    from bench.training.losses import center_per_vector, centres_per_vector

    x = np.asarray(embeddings, dtype=np.float64) - centre
    return l2_rows(center_per_vector(x) if centres_per_vector(method) else x)


def brain_embeddings(brain: np.ndarray, method: str) -> np.ndarray:
    """Encoder outputs as the recipe normalises them before scoring (per-vector centring for AlignVis)."""
    from bench.training.losses import center_per_vector, centres_per_vector

    return center_per_vector(np.asarray(brain, dtype=np.float64)) if centres_per_vector(method) else brain


def check_embed_dim(recipe, n_dims: int, submission: str) -> None:
    """Brain embeddings live in the image model's space: a declared ``recipe.embed_dim`` must match it."""
    if recipe.embed_dim and recipe.embed_dim != n_dims:
        raise ConfigError(f"recipe.embed_dim={recipe.embed_dim} differs from the image model's embedding size "
                          f"{n_dims}", where=f"submission '{submission}'", field="recipe.embed_dim",
                          fix="remove recipe.embed_dim (brain and image embeddings are compared directly)")


def training_sets(train, row_image: np.ndarray, targets: np.ndarray, *index: np.ndarray) -> list:
    """One in-memory ``TrainingSet`` per row index (e.g. training and validation rows): the signal rows of
    ``train`` (pooled cross-subject storage is read row-wise via ``take``) with their image targets."""
    import torch

    from bench.training.loop import TrainingSet

    def build(idx: np.ndarray) -> TrainingSet:
        rows = train.take(idx) if hasattr(train, "take") else np.ascontiguousarray(train.signals[idx])
        return TrainingSet(signals=torch.from_numpy(rows),
                           targets=torch.from_numpy(targets[row_image[idx]]),
                           image_index=torch.from_numpy(row_image[idx]),
                           concepts=torch.from_numpy(train.concepts[idx].astype(np.int64)),
                           subjects=torch.from_numpy(train.subjects[idx].astype(np.int64)))

    return [build(idx) for idx in index]


__all__ = ["brain_embeddings", "check_embed_dim", "image_targets", "l2_rows", "normalise_targets", "training_sets"]
