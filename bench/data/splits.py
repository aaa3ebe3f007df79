"""Seeded validation splits carved from training data only (docs/PROTOCOLS.md section 2).

Model selection uses a validation split of the *training* images (or concepts), never the test set.
Splitting is by group: every row of one image (or one concept) goes to the same side, so
single-trial rows of a validation image never leak into training.

    train_idx, val_idx = validation_split(data.image_ids, data.concepts, by="image", fraction=0.1, seed=0)
    train, val = data.subset(train_idx), data.subset(val_idx)
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from bench.errors import ConfigError

SplitBy = Literal["image", "concept"]


def validation_split(image_ids: Sequence[str] | np.ndarray, concepts: Sequence[int] | np.ndarray | None = None,
                     by: SplitBy = "image", fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train_idx, val_idx)`` of a seeded split by image or by concept.

    image_ids: one id per row (rows of the same image share it: single trials, several subjects).
    concepts:  one concept label per row (needed for ``by="concept"``).
    by:        ``"image"``: whole images go to validation; ``"concept"``: whole concepts.
    fraction:  share of the *groups* (images or concepts) sent to validation, rounded, at least 1
               and at most all but one.
    seed:      the split depends only on the seed and the set of groups (not on row order).

    Returns two sorted int64 arrays that partition ``range(len(image_ids))``; no group appears
    on both sides.
    """
    ids = np.asarray(image_ids)
    n = len(ids)
    if by == "image":
        keys = ids
    elif by == "concept":
        if concepts is None:
            raise ConfigError("a concept split needs the concept label of every row", field="by",
                              fix="pass concepts=, or split by='image'")
        keys = np.asarray(concepts)
        if len(keys) != n:
            raise ConfigError(f"{len(keys)} concept labels for {n} rows", field="concepts",
                              fix="pass one concept label per row")
    else:
        raise ConfigError(f"unknown split '{by}'", field="by", fix="use 'image' or 'concept'")
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"validation fraction must be in (0, 1), got {fraction}", field="fraction",
                          fix="use e.g. 0.1")
    if int(seed) < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}", field="seed", fix="use a non-negative integer")
    groups, inverse = np.unique(keys, return_inverse=True)  # sorted: independent of row order
    if len(groups) < 2:
        raise ConfigError(f"cannot split {len(groups)} {by}(s) into training and validation", field="by",
                          fix="the training data need at least two distinct groups")
    n_val = int(min(len(groups) - 1, max(1, round(float(fraction) * len(groups)))))
    rng = np.random.default_rng([int(seed), 0x5B17])
    val_groups = np.zeros(len(groups), dtype=bool)
    val_groups[rng.permutation(len(groups))[:n_val]] = True
    is_val = val_groups[inverse.reshape(-1)]
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def split_data(data, by: SplitBy = "image", fraction: float = 0.1, seed: int = 0):
    """``(train, val)`` :class:`~bench.data.base.BrainData` from :func:`validation_split` on ``data``."""
    train_idx, val_idx = validation_split(data.image_ids, data.concepts, by=by, fraction=fraction, seed=seed)
    return data.subset(train_idx), data.subset(val_idx)


__all__ = ["validation_split", "split_data", "SplitBy"]
