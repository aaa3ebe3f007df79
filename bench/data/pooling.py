"""Memory-aware pooling of several subjects' training data (leave-one-subject-out folds).

A cross-subject fold on THINGS-EEG2 trains on nine subjects: 9 x 8.3 GB of float64 on disk, 9.4 GB
even as float32 4-repetition averages, and a naive ``concatenate`` + fancy-indexing pipeline holds
two or three copies of that at once. Here:

1. **Stream and average early, one subject at a time.** Each training subject is loaded with its
   dataset's own loader (THINGS-EEG2 reads its file in ~64 MB chunks and averages the repetitions
   on the fly), so at most one subject's float32 items are in memory while the pool is built.
2. **Store compactly, once, on disk.** Every subject's items are written to a per-subject ``.npy``
   cache file under ``<cache_dir>/pooled/<dataset>/`` as **float16** when that is safe (finite,
   max |x| <= 60000 and median |x| >= 1e-3: relative rounding error <= 2^-11) and float32
   otherwise. The file name is keyed by the subject's data checksum (the bytes of the files the
   loader read), the dataset, variant, part, repetitions, channels, time window and this module's
   format version, so a changed file or option never reuses a stale cache, and the ten folds of a
   task share the ten subject files (5.2 GB at full size) instead of writing nine copies per fold.
   The files are written with ordinary file I/O (no memory map), so building the pool does not
   grow the process's resident set.
3. **Pool without concatenating.** :class:`PooledData` is the list of cached subjects plus their
   (small) image ids, concepts and subject numbers. ``take(rows)`` reads exactly the requested rows,
   in the requested order, from the files (``readinto`` of contiguous spans, never through a
   memory map, so the page cache is not charged to the process) into one new array in the storage
   dtype: the training and validation sets of a fold are built directly from disk, and the only
   full-size copy in memory is the one the trainer receives (float16: 4.7 GB for a full-size fold;
   the loop casts each batch to float32).

``PooledData.memmap(i)`` gives a read-only memory map of subject ``i``'s rows when random access is
wanted (its resident pages count towards RSS while they stay mapped).

>>> pooled = pool_subjects(ds, [2, 3, 4], repetitions="average", cache_dir=settings.cache_dir)
>>> train_rows = pooled.take(train_idx)          # (len(train_idx), C, T) float16, in index order
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from bench.data.base import BrainData, BrainDataset, Part, Repetitions
from bench.errors import DataError

POOL_FORMAT = 1
Storage = Literal["auto", "float16", "float32"]
FLOAT16_MAX = 6.0e4
FLOAT16_MIN_MEDIAN = 1e-3
_CHUNK_BYTES = 64 << 20


def storage_dtype(signals: np.ndarray, storage: Storage = "auto") -> np.dtype:
    """The dtype ``signals`` are cached in: float16 when safe (see the module docstring), else float32."""
    if storage == "float32":
        return np.dtype(np.float32)
    if storage == "float16":
        return np.dtype(np.float16)
    if storage != "auto":
        raise ValueError(f"storage must be 'auto', 'float16' or 'float32', got {storage!r}")
    if signals.size == 0:
        return np.dtype(np.float32)
    rows = signals.reshape(len(signals), -1)
    step = max(1, _CHUNK_BYTES // max(1, rows[:1].nbytes))
    big = 0.0
    for i in range(0, len(rows), step):                      # chunked: no full-size temporary
        big = max(big, float(np.abs(rows[i:i + step]).max()))
    sample = rows.reshape(-1)[:: max(1, rows.size // 1_000_003)]
    median = float(np.median(np.abs(sample)))
    if np.isfinite(big) and big <= FLOAT16_MAX and median >= FLOAT16_MIN_MEDIAN:
        return np.dtype(np.float16)
    return np.dtype(np.float32)


@dataclass(frozen=True)
class CachedSubject:
    """One subject's items in a cache file: ``n`` rows of ``row_shape`` in ``dtype`` at ``offset``."""

    subject: int
    path: Path
    offset: int
    n: int
    row_shape: tuple[int, ...]
    dtype: np.dtype
    image_ids: np.ndarray
    concepts: np.ndarray
    checksum: str
    meta: dict

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.n * self.row_bytes


class PooledData:
    """Training items of several subjects, each kept in its own cache file (see the module docstring).

    Offers what the retrieval task reads from :class:`~bench.data.base.BrainData` (``image_ids``,
    ``concepts``, ``subjects``, ``checksum``, ``shape``, ``len``) plus :meth:`take`; there is no
    ``signals`` attribute on purpose (that would be the full concatenated copy).
    """

    def __init__(self, parts: Sequence[CachedSubject], checksum: str) -> None:
        if not parts:
            raise ValueError("PooledData needs at least one subject")
        shapes = {p.row_shape for p in parts}
        if len(shapes) != 1:
            raise DataError(f"subjects have different item shapes {sorted(shapes)}: they cannot be pooled",
                            fix="select the same channels/time window for every subject (dataset.channels, "
                                "dataset.time_window)")
        self.parts = list(parts)
        self.checksum = checksum
        self.row_shape = parts[0].row_shape
        self.dtype = np.result_type(*[p.dtype for p in parts])
        self.image_ids = np.concatenate([p.image_ids for p in parts])
        self.concepts = np.concatenate([p.concepts for p in parts])
        self.subjects = np.concatenate([np.full(p.n, p.subject, dtype=np.int64) for p in parts])
        self.starts = np.cumsum([0] + [p.n for p in parts])
        first = parts[0].meta
        self.ch_names = first.get("ch_names")
        self.times = None if first.get("times") is None else np.asarray(first["times"])
        self.sfreq = first.get("sfreq")
        self.info = {"storage": {p.subject: str(p.dtype) for p in parts},
                     "cache_files": [str(p.path) for p in parts]}

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def nbytes(self) -> int:
        """Bytes of all rows in the storage dtype (what ``take(all rows)`` allocates)."""
        return len(self) * int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def shape(self) -> dict[str, int | float | None]:
        """Signal shape by name, as :attr:`BrainData.shape`."""
        if len(self.row_shape) == 2:
            return {"n_chans": self.row_shape[0], "n_times": self.row_shape[1], "sfreq": self.sfreq}
        return {"n_chans": self.row_shape[0], "n_times": None, "sfreq": None}

    def take(self, index: np.ndarray | Sequence[int]) -> np.ndarray:
        """Rows ``index`` (pooled numbering, any order, repeats allowed) as one new array in storage dtype.

        Reads the files directly (no memory map): contiguous spans of the needed rows, ~64 MB at a time.
        """
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"row index out of range [0, {len(self)})")
        out = np.empty((len(index), *self.row_shape), dtype=self.dtype)
        order = np.argsort(index, kind="stable")
        sorted_idx = index[order]
        for k, part in enumerate(self.parts):
            lo, hi = np.searchsorted(sorted_idx, [self.starts[k], self.starts[k + 1]])
            if lo == hi:
                continue
            _read_part(part, sorted_idx[lo:hi] - self.starts[k], order[lo:hi], out)
        return out

    def memmap(self, i: int) -> np.memmap:
        """Read-only memory map of the ``i``-th subject's rows (in its storage dtype)."""
        p = self.parts[i]
        return np.memmap(p.path, dtype=p.dtype, mode="r", offset=p.offset, shape=(p.n, *p.row_shape))

    def to_brain_data(self) -> BrainData:
        """Everything in memory as one :class:`BrainData` (float32; small data and tests only)."""
        return BrainData(self.take(np.arange(len(self))).astype(np.float32), self.image_ids, self.concepts,
                         self.subjects, self.checksum, self.ch_names, self.times, self.sfreq, dict(self.info))


def _read_part(part: CachedSubject, local: np.ndarray, dest: np.ndarray, out: np.ndarray) -> None:
    """Copy rows ``local`` (sorted) of ``part`` into ``out[dest]``, reading contiguous spans."""
    row = part.row_bytes
    max_rows = max(1, _CHUNK_BYTES // row)
    with open(part.path, "rb", buffering=0) as fh:
        k = 0
        buf = None
        while k < len(local):
            first = int(local[k])
            upto = k + int(np.searchsorted(local[k:], first + max_rows))
            last = int(local[upto - 1])
            n = last - first + 1
            if buf is None or len(buf) < n:
                buf = np.empty((min(max_rows, max(n, 1)), *part.row_shape), dtype=part.dtype)
            view = buf[:n]
            fh.seek(part.offset + first * row)
            got = fh.readinto(memoryview(view.reshape(-1)).cast("B"))
            if got != n * row:
                raise DataError(f"cache file is truncated (expected {n * row} bytes at row {first}, got {got})",
                                where=part.path, fix="delete the file; it is rebuilt on the next run")
            out[dest[k:upto]] = view[local[k:upto] - first]
            k = upto


def _cache_key(ds: BrainDataset, subject: int, part: Part, repetitions: Repetitions,
               channels: Sequence[str] | None, time_window: tuple[float, float] | None, storage: Storage,
               checksum: str) -> str:
    spec = {"format": POOL_FORMAT, "dataset": ds.name, "variant": ds.variant, "subject": int(subject), "part": part,
            "repetitions": repetitions, "channels": list(channels) if channels is not None else None,
            "time_window": list(time_window) if time_window is not None else None, "storage": storage,
            "checksum": checksum}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def cache_subject(ds: BrainDataset, subject: int, *, cache_dir: Path, part: Part = "train",
                  repetitions: Repetitions = "average", channels: Sequence[str] | None = None,
                  time_window: tuple[float, float] | None = None, storage: Storage = "auto") -> CachedSubject:
    """Load ``subject``'s ``part`` once and keep it in a compact cache file (reused while the data are unchanged)."""
    checksum = ds.checksum(subject, part)
    key = _cache_key(ds, subject, part, repetitions, channels, time_window, storage, checksum)
    folder = Path(cache_dir) / "pooled" / ds.name
    stem = f"sub-{int(subject):02d}-{part}-{key[:24]}"
    data_path, meta_path = folder / f"{stem}.npy", folder / f"{stem}.meta.npz"
    cached = _open_cached(subject, data_path, meta_path)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    data = ds.load(subject, part, repetitions=repetitions, channels=channels, time_window=time_window)
    dtype = storage_dtype(data.signals, storage)
    tag = f".{os.getpid()}.{os.urandom(4).hex()}.tmp"
    tmp_data, tmp_meta = data_path.with_name(data_path.name + tag), meta_path.with_name(meta_path.name + tag)
    try:
        with open(tmp_data, "wb") as fh:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": tuple(int(s) for s in data.signals.shape)}
            np.lib.format.write_array_header_1_0(fh, header)
            step = max(1, _CHUNK_BYTES // max(1, data.signals[:1].nbytes))
            for i in range(0, len(data.signals), step):
                chunk = data.signals[i:i + step].astype(dtype)
                if not np.isfinite(chunk).all():
                    raise DataError(f"subject {subject}'s data do not fit in {dtype} (non-finite after the cast)",
                                    where=data_path, fix="use storage='float32'")
                fh.write(memoryview(np.ascontiguousarray(chunk).reshape(-1)).cast("B"))
        meta = {"subject": int(subject), "checksum": data.checksum, "ch_names": data.ch_names,
                "times": None if data.times is None else [float(t) for t in data.times], "sfreq": data.sfreq,
                "dtype": str(dtype), "info": data.info, "format": POOL_FORMAT}
        with open(tmp_meta, "wb") as fh:
            np.savez(fh, image_ids=np.asarray(data.image_ids).astype(str), concepts=np.asarray(data.concepts, np.int64),
                     meta=np.array(json.dumps(meta, default=str)))
        os.replace(tmp_meta, meta_path)
        os.replace(tmp_data, data_path)
    finally:
        for p in (tmp_data, tmp_meta):
            if p.exists():
                p.unlink()
    del data
    cached = _open_cached(subject, data_path, meta_path)
    if cached is None:  # pragma: no cover - just written
        raise DataError("could not read back the cache file just written", where=data_path,
                        fix="check the cache folder's disk space and permissions")
    return cached


def _open_cached(subject: int, data_path: Path, meta_path: Path) -> CachedSubject | None:
    if not (data_path.is_file() and meta_path.is_file()):
        return None
    try:
        with np.load(meta_path, allow_pickle=False) as z:
            image_ids, concepts = z["image_ids"], z["concepts"]
            meta = json.loads(str(z["meta"]))
        with open(data_path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
        expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if fortran or len(shape) < 2 or shape[0] != len(image_ids) or data_path.stat().st_size != expected:
            return None
    except (OSError, ValueError, KeyError):
        return None
    return CachedSubject(int(subject), data_path, int(offset), int(shape[0]), tuple(int(s) for s in shape[1:]),
                         np.dtype(dtype), image_ids, concepts, meta["checksum"], meta)


def pool_subjects(ds: BrainDataset, subjects: Sequence[int], *, cache_dir: Path, part: Part = "train",
                  repetitions: Repetitions = "average", channels: Sequence[str] | None = None,
                  time_window: tuple[float, float] | None = None, storage: Storage = "auto") -> PooledData:
    """The ``part`` of ``subjects`` as one :class:`PooledData` (each subject cached on first use).

    Subjects are processed one after another, so building the pool holds at most one subject's
    float32 items in memory. The pooled checksum combines the subjects' data checksums in order.
    """
    from bench.data.checksum import combine

    if len(set(subjects)) != len(subjects):
        raise ValueError(f"duplicate subjects {list(subjects)}")
    parts = [cache_subject(ds, s, cache_dir=cache_dir, part=part, repetitions=repetitions, channels=channels,
                           time_window=time_window, storage=storage) for s in subjects]
    return PooledData(parts, combine(p.checksum for p in parts))


__all__ = ["PooledData", "CachedSubject", "pool_subjects", "cache_subject", "storage_dtype", "POOL_FORMAT"]
