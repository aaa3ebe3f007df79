"""File checksums: cached by (path, size, mtime_ns) in memory and in one SQLite index; re-hash on demand."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from bench.data import checksum, last_read


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv("BENCH_REHASH", raising=False)
    checksum.set_rehash(None)
    checksum.clear_memory()
    last_read.clear()
    yield
    checksum.set_rehash(None)
    checksum.clear_memory()
    last_read.clear()


@pytest.fixture
def counting(monkeypatch):
    """Count the files whose bytes are actually read."""
    calls = []
    real = checksum._hash_bytes

    def spy(path):
        calls.append(path.name)
        return real(path)

    monkeypatch.setattr(checksum, "_hash_bytes", spy)
    return calls


def write(path, data: bytes, mtime_ns: int | None = None):
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_digest_is_sha256_and_each_file_is_read_once(tmp_path, counting):
    files = [write(tmp_path / f"f{i}.bin", os.urandom(1000 + i)) for i in range(5)]
    cache = tmp_path / "cache"
    digests = [checksum.file_sha256(f, cache) for f in files]
    assert digests == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    again = [checksum.file_sha256(f, cache) for f in files]
    assert again == digests and len(counting) == 5
    # a new process (memo cleared) reads the on-disk index, not the files
    checksum.clear_memory()
    assert [checksum.file_sha256(f, cache) for f in files] == digests and len(counting) == 5
    with sqlite3.connect(cache / "checksums" / "index.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 5


def test_changed_size_or_mtime_rehashes(tmp_path, counting):
    f = write(tmp_path / "a.bin", b"x" * 100, mtime_ns=1_000_000_000)
    cache = tmp_path / "cache"
    first = checksum.file_sha256(f, cache)
    write(f, b"y" * 100, mtime_ns=2_000_000_000)                    # same size, new mtime
    second = checksum.file_sha256(f, cache)
    assert second == hashlib.sha256(b"y" * 100).hexdigest() != first
    write(f, b"y" * 101, mtime_ns=2_000_000_000)                    # same mtime, new size
    assert checksum.file_sha256(f, cache) == hashlib.sha256(b"y" * 101).hexdigest()
    assert len(counting) == 3


def test_rehash_reads_every_file_once_and_catches_a_same_stat_change(tmp_path, counting, monkeypatch):
    f = write(tmp_path / "a.bin", b"a" * 64, mtime_ns=5_000_000_000)
    cache = tmp_path / "cache"
    old = checksum.file_sha256(f, cache)
    write(f, b"b" * 64, mtime_ns=5_000_000_000)                     # same size and mtime: the cache is stale
    assert checksum.file_sha256(f, cache) == old                    # trusted (documented)
    monkeypatch.setenv("BENCH_REHASH", "1")
    new = checksum.file_sha256(f, cache)
    assert new == hashlib.sha256(b"b" * 64).hexdigest()
    assert checksum.file_sha256(f, cache) == new and len(counting) == 2   # once per process
    monkeypatch.delenv("BENCH_REHASH")
    checksum.clear_memory()
    assert checksum.file_sha256(f, cache) == new and len(counting) == 2   # the index was refreshed


def test_files_sha256_names_and_order(tmp_path):
    a, b = write(tmp_path / "a", b"1"), write(tmp_path / "b", b"2")
    one = checksum.files_sha256([a, b], tmp_path / "c", root=tmp_path)
    assert one != checksum.files_sha256([b, a], tmp_path / "c", root=tmp_path)
    assert checksum.files_sha256([a, b], None, root=tmp_path) == one


def test_no_cache_dir_and_unwritable_index_still_hash(tmp_path):
    f = write(tmp_path / "a", b"abc")
    assert checksum.file_sha256(f) == hashlib.sha256(b"abc").hexdigest()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache dir should be")
    assert checksum.file_sha256(f, blocked) == hashlib.sha256(b"abc").hexdigest()
    checksum.flush()


def test_a_load_hashes_while_reading_only_what_is_not_remembered(tmp_path, counting, monkeypatch):
    """THINGS-EEG2 ``load``: the first read hashes the file's bytes as it reads them (one pass, the
    digest equal to an independent SHA-256 and remembered); later loads (also in a new process) use the
    remembered digest and hash nothing; a same-size, same-mtime rewrite is caught under re-hash mode."""
    import bench.data.things_eeg2 as te2
    from bench.data.simulate.things_eeg2 import SizeSpec, write_things_eeg2

    root = write_things_eeg2(tmp_path / "d", size=SizeSpec(20, 5, 4, 4, 5, 16), subjects=1, seed=0)
    path = root / "Preprocessed_data_250Hz" / "sub-01" / "preprocessed_eeg_training.npy"
    cache = tmp_path / "cache"
    hashed = []
    real = te2._read_signals
    monkeypatch.setattr(te2, "_read_signals", lambda *a, hasher=None, **k: (hashed.append(hasher is not None),
                                                                              real(*a, hasher=hasher, **k))[1])

    def independent(ds: te2.ThingsEEG2) -> str:
        return ds._checksum("train", path, hashlib.sha256(path.read_bytes()).hexdigest())

    ds = te2.ThingsEEG2(root, cache_dir=cache)
    first = ds.load(1, "train")
    assert isinstance(te2.safe_load(path)[te2.DATA_KEY], te2.LazyArray)      # the one-pass reader
    assert hashed == [True] and first.checksum == independent(ds) == ds.checksum(1, "train")
    checksum.flush()
    checksum.clear_memory()                                                  # a new process
    last_read.clear()
    again = te2.ThingsEEG2(root, cache_dir=cache).load(1, "train")
    assert hashed == [True, False] and again.checksum == first.checksum and counting == []

    offset = te2.safe_load(path)[te2.DATA_KEY].offset                       # first stored value's bytes
    stat = path.stat()
    with open(path, "r+b") as fh:                                            # same size and mtime, other bytes
        fh.seek(offset)
        value = fh.read(4)
        fh.seek(offset)
        fh.write(bytes(b ^ 0x01 for b in value))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert te2.ThingsEEG2(root, cache_dir=cache).load(1, "train").checksum == first.checksum   # trusted
    last_read.clear()                                         # (the rule is the same for the kept read)
    assert te2.ThingsEEG2(root, cache_dir=cache).load(1, "train").checksum == first.checksum
    monkeypatch.setenv("BENCH_REHASH", "1")
    fresh = te2.ThingsEEG2(root, cache_dir=cache).load(1, "train")
    assert hashed[-1] is True and fresh.checksum == independent(ds) != first.checksum
