"""Pooled, cached training data for leave-one-subject-out folds (bench/data/pooling.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.base import BrainData, BrainDataset
from bench.data.pooling import PooledData, cache_subject, pool_subjects, storage_dtype


class _Toy(BrainDataset):
    """An in-memory dataset: subject s has 5 + s items of (3, 4); counts loads; checksum is settable."""

    name = "toy"
    modality = "eeg"

    def __init__(self, root=".", variant=None, cache_dir=None, scale=1.0):
        super().__init__(root, variant, cache_dir)
        self.scale = scale
        self.loads: list[tuple[int, str]] = []
        self.version = "v1"

    def subjects(self):
        return [1, 2, 3]

    def files(self, subject, part):
        return []

    def checksum(self, subject, part):
        return f"{self.version}-{subject}-{part}"

    def signals(self, subject):
        rng = np.random.default_rng(subject)
        return (rng.standard_normal((5 + subject, 3, 4)) * self.scale).astype(np.float32)

    def load(self, subject, part, *, repetitions="average", channels=None, time_window=None):
        self.loads.append((subject, part))
        x = self.signals(subject)
        ids = np.array([f"img{i:02d}" for i in range(len(x))])
        return BrainData(x, ids, np.arange(len(x)), np.full(len(x), subject), self.checksum(subject, part),
                         ["a", "b", "c"], np.arange(4) / 4.0, 4.0, {})

    def images(self, part):  # pragma: no cover - unused
        raise NotImplementedError


def test_storage_dtype_rule():
    assert storage_dtype(np.ones((4, 3), np.float32)) == np.float16
    assert storage_dtype(np.full((4, 3), 1e-6, np.float32)) == np.float32       # volts: too small for float16
    assert storage_dtype(np.full((4, 3), 1e5, np.float32)) == np.float32        # would overflow
    assert storage_dtype(np.ones((4, 3), np.float32), "float32") == np.float32


def test_take_reads_any_rows_in_order(tmp_path):
    ds = _Toy()
    pooled = pool_subjects(ds, [3, 1], cache_dir=tmp_path)
    assert isinstance(pooled, PooledData) and not hasattr(pooled, "signals")
    full = np.concatenate([ds.signals(3), ds.signals(1)])
    assert len(pooled) == len(full) and pooled.dtype == np.float16
    assert pooled.shape == {"n_chans": 3, "n_times": 4, "sfreq": 4.0}
    np.testing.assert_array_equal(pooled.subjects, [3] * 8 + [1] * 6)
    rng = np.random.default_rng(0)
    for idx in (rng.permutation(len(full)), np.array([13, 0, 0, 8, 7]), np.array([], dtype=np.int64)):
        got = pooled.take(idx)
        assert got.dtype == np.float16 and got.shape == (len(idx), 3, 4)
        np.testing.assert_allclose(got.astype(np.float32), full[idx], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(pooled.memmap(1), ds.signals(1).astype(np.float16))
    with pytest.raises(IndexError):
        pooled.take([len(full)])
    assert pooled.to_brain_data().signals.shape == full.shape


def test_cache_is_reused_and_keyed_by_content(tmp_path):
    ds = _Toy()
    first = cache_subject(ds, 2, cache_dir=tmp_path)
    assert ds.loads == [(2, "train")]
    again = cache_subject(ds, 2, cache_dir=tmp_path)
    assert ds.loads == [(2, "train")] and again.path == first.path            # no second load
    ds.version = "v2"                                                           # the data file changed
    changed = cache_subject(ds, 2, cache_dir=tmp_path)
    assert changed.path != first.path and ds.loads[-1] == (2, "train")
    other = cache_subject(ds, 2, cache_dir=tmp_path, time_window=(0.0, 0.5))    # another option: another file
    assert other.path != changed.path
    # a truncated cache file is not trusted
    with open(changed.path, "r+b") as fh:
        fh.truncate(changed.offset + 10)
    n = len(ds.loads)
    rebuilt = cache_subject(ds, 2, cache_dir=tmp_path)
    assert len(ds.loads) == n + 1 and rebuilt.path.stat().st_size > changed.offset + 10


def test_float32_storage_when_float16_is_unsafe(tmp_path):
    ds = _Toy(scale=1e-6)
    pooled = pool_subjects(ds, [1, 2], cache_dir=tmp_path)
    assert pooled.dtype == np.float32
    np.testing.assert_array_equal(pooled.take(np.arange(6)), ds.signals(1))


def test_pooled_checksum_matches_concat(tmp_path):
    ds = _Toy()
    pooled = pool_subjects(ds, [1, 2], cache_dir=tmp_path)
    concat = BrainData.concat([ds.load(1, "train"), ds.load(2, "train")])
    assert pooled.checksum == concat.checksum
    np.testing.assert_array_equal(pooled.image_ids, concat.image_ids)
    np.testing.assert_array_equal(pooled.concepts, concat.concepts)
