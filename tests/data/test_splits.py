"""Seeded validation splits: disjoint groups, deterministic, never leaking single trials."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.base import BrainData
from bench.data.splits import split_data, validation_split
from bench.errors import ConfigError


def _rows(n_concepts: int = 20, per_concept: int = 5, reps: int = 4):
    """Single-trial style rows: every image id repeated ``reps`` times."""
    images = [f"{c:05d}_c{c}/c{c}_{k:02d}" for c in range(n_concepts) for k in range(per_concept)]
    concepts = [c for c in range(n_concepts) for _ in range(per_concept)]
    return np.repeat(images, reps), np.repeat(concepts, reps)


@pytest.mark.parametrize("by", ["image", "concept"])
def test_split_is_a_disjoint_partition_by_group(by):
    ids, concepts = _rows()
    train, val = validation_split(ids, concepts, by=by, fraction=0.1, seed=0)
    assert train.dtype == np.int64 and val.dtype == np.int64
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(ids)))
    assert len(np.intersect1d(train, val)) == 0
    key = ids if by == "image" else concepts
    assert not set(key[train]) & set(key[val])  # no image (concept) on both sides
    n_groups = len(set(key))
    assert len(set(key[val])) == round(0.1 * n_groups)
    if by == "concept":
        assert not set(ids[train]) & set(ids[val])


def test_single_trial_rows_of_an_image_stay_together():
    ids, concepts = _rows(reps=4)
    _, val = validation_split(ids, concepts, by="image", seed=3)
    for image in set(ids[val]):
        assert set(np.flatnonzero(ids == image)) <= set(val)


def test_seeded_and_deterministic():
    ids, concepts = _rows()
    a = validation_split(ids, concepts, seed=1)
    b = validation_split(ids, concepts, seed=1)
    c = validation_split(ids, concepts, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    # the chosen images do not depend on the order of the rows
    perm = np.random.default_rng(0).permutation(len(ids))
    _, val_perm = validation_split(ids[perm], concepts[perm], seed=1)
    assert set(ids[perm][val_perm]) == set(ids[a[1]])


def test_at_least_one_validation_item_and_one_training_item():
    ids = np.array(["a", "b", "c"])
    train, val = validation_split(ids, None, by="image", fraction=0.01, seed=0)
    assert len(val) == 1 and len(train) == 2
    train, val = validation_split(ids, None, by="image", fraction=0.99, seed=0)
    assert len(train) == 1 and len(val) == 2


def test_bad_arguments():
    ids, concepts = _rows()
    with pytest.raises(ConfigError, match="fraction"):
        validation_split(ids, concepts, fraction=0.0)
    with pytest.raises(ConfigError, match="fraction"):
        validation_split(ids, concepts, fraction=1.5)
    with pytest.raises(ConfigError, match="by"):
        validation_split(ids, concepts, by="subject")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="concept"):
        validation_split(ids, None, by="concept")
    with pytest.raises(ConfigError, match="two distinct"):
        validation_split(np.array(["x", "x"]), None)
    with pytest.raises(ConfigError, match="concepts"):
        validation_split(ids, concepts[:-1], by="concept")


def test_split_data_on_brain_data():
    ids, concepts = _rows(n_concepts=10, per_concept=2, reps=2)
    n = len(ids)
    data = BrainData(np.zeros((n, 3, 4), np.float32), ids, concepts, np.ones(n, np.int64), "x")
    train, val = split_data(data, by="concept", fraction=0.2, seed=0)
    assert len(train) + len(val) == n
    assert set(val.concepts).isdisjoint(train.concepts) and len(set(val.concepts)) == 2
