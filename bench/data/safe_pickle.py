"""Safe, lazy unpickling of published data files (THINGS-EEG2's ``.npy`` pickles, ``np.save``-d objects).

:func:`safe_load` reads a pickle or an ``np.save``-d object array **without executing code**:
:class:`SafeUnpickler` resolves only numpy's array reconstruction, dtypes, scalars and inert
builtins (any other global is refused with a :class:`~bench.errors.DataError`), and large byte
payloads outside a pickle frame are not read but located, coming back as :class:`LazyArray` (rows
read on demand, or memory-mapped). One module, used by every loader that meets a pickle.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from struct import unpack
from typing import Any, BinaryIO

import numpy as np

from bench.errors import DataError

DOWNLOAD_HINT = "get the original file again from the dataset's published release"

LAZY_THRESHOLD = 1 << 16
"""Byte payloads at least this large that sit outside a pickle frame are not read, only located."""


@dataclass(frozen=True)
class _Payload:
    """Raw bytes left in the file: ``nbytes`` starting at ``offset`` of ``path``."""

    path: Path
    offset: int
    nbytes: int


class LazyArray:
    """An array whose raw bytes stay in the file until asked for (C or Fortran order).

    ``read(start, stop)`` reads rows ``start:stop`` (first axis) of a C-ordered array with one
    ``readinto``; ``np.asarray(lazy)`` reads everything; ``memmap()`` maps it read-only.
    """

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, fortran: bool) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.fortran = bool(fortran)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyArray({self.path.name}, shape={self.shape}, dtype={self.dtype}, offset={self.offset})"

    def memmap(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape,
                         order="F" if self.fortran else "C")

    def read(self, start: int, stop: int, out: np.ndarray | None = None, fh: BinaryIO | None = None) -> np.ndarray:
        """Rows ``start:stop`` as an in-memory array (into ``out`` when given)."""
        stop = min(stop, self.shape[0])
        if self.fortran:
            return np.array(self.memmap()[start:stop])
        row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        n = max(0, stop - start)
        if out is None:
            out = np.empty((n, *self.shape[1:]), dtype=self.dtype)
        buf = memoryview(out.reshape(-1)).cast("B")
        own = fh is None
        fh = fh or open(self.path, "rb")
        try:
            fh.seek(self.offset + start * row)
            got = fh.readinto(buf)
        finally:
            if own:
                fh.close()
        if got != n * row:
            raise DataError(f"file is truncated: expected {n * row} bytes of array data at offset "
                            f"{self.offset + start * row}, found {got}", where=self.path,
                            fix=f"re-download or re-create the file; {DOWNLOAD_HINT}")
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.read(0, self.shape[0]) if not self.fortran else np.array(self.memmap())
        return arr if dtype is None else arr.astype(dtype)


class _NDArrayRef:
    """What ``numpy.ndarray`` resolves to inside a pickle: a token, not the (callable) class."""


_NDARRAY = _NDArrayRef()


class _ArrayBuilder:
    """Result of ``_reconstruct(ndarray, ...)``; BUILD turns it into the array (see ``load_build``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, state: Any) -> Any:
        where = self.path
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataError("malformed numpy array state in pickle", where=where,
                            fix="the file is corrupt or not a numpy pickle; re-download it")
        if len(state) == 5:
            state = state[1:]
        shape, dtype, fortran, raw = state
        if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) or \
                not all(isinstance(s, (int, np.integer)) and s >= 0 for s in shape):
            raise DataError("malformed numpy array header in pickle", where=where,
                            fix="the file is corrupt; re-download it")
        shape = tuple(int(s) for s in shape)
        count = int(np.prod(shape, dtype=np.int64))
        order = "F" if fortran else "C"
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != count:
                raise DataError("malformed object array in pickle", where=where, fix="re-download the file")
            arr = np.empty(count, dtype=object)
            for i, item in enumerate(raw):
                arr[i] = item
            return arr.reshape(shape, order=order)
        if isinstance(raw, _Payload):
            if raw.nbytes != count * dtype.itemsize:
                raise DataError(f"array payload has {raw.nbytes} bytes, shape {shape} needs "
                                f"{count * dtype.itemsize}", where=where, fix="re-download the file")
            return LazyArray(raw.path, raw.offset, shape, dtype, bool(fortran))
        if isinstance(raw, str):  # protocol 0-2 pickles store bytes as latin-1 text
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != count * dtype.itemsize:
            raise DataError("array data do not match the array's shape and dtype", where=where,
                            fix="the file is corrupt; re-download it")
        return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).copy()


def _safe_reconstruct(path: Path):
    def _reconstruct(subtype: Any, shape: Any = None, typecode: Any = None) -> _ArrayBuilder:
        if subtype is not _NDARRAY:
            raise DataError("pickle asks to rebuild an array of a class other than numpy.ndarray",
                            where=path, fix="only plain numpy arrays are accepted; re-download the file")
        return _ArrayBuilder(path)
    return _reconstruct


def _safe_frombuffer(path: Path):
    def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> Any:  # protocol-5 arrays
        builder = _ArrayBuilder(path)
        return builder.build((shape, dtype, order == "F", buf))
    return _frombuffer


def _safe_scalar(path: Path):
    def scalar(dtype: Any, data: Any = None) -> Any:
        if not isinstance(dtype, np.dtype):
            raise DataError("malformed numpy scalar in pickle", where=path, fix="re-download the file")
        if dtype.hasobject:
            return data
        if isinstance(data, str):
            data = data.encode("latin1")
        return np.frombuffer(data, dtype=dtype, count=1)[0]
    return scalar


_INERT_BUILTINS = {"complex": complex, "set": set, "frozenset": frozenset, "slice": slice}


class SafeUnpickler(pickle._Unpickler):  # the pure-Python unpickler, so large payloads can stay on disk
    """Unpickler for numpy data files that refuses to run code and leaves big arrays on disk.

    ``find_class`` resolves only: numpy's ``_reconstruct`` / ``_frombuffer`` / ``scalar`` (replaced
    by checked builders), ``numpy.ndarray`` (as a token), ``numpy.dtype``, and the inert builtins
    in ``_INERT_BUILTINS`` plus ``_codecs.encode`` (protocol-2 bytes). Anything else raises
    :class:`DataError`. Array payloads >= ``lazy_threshold`` bytes outside a pickle frame become
    :class:`LazyArray` objects pointing into ``path``.
    """

    dispatch = pickle._Unpickler.dispatch.copy()

    def __init__(self, fh: BinaryIO, path: Path, lazy_threshold: int = LAZY_THRESHOLD) -> None:
        super().__init__(fh, encoding="latin1")
        self._fh = fh
        self._path = Path(path)
        self._lazy_threshold = lazy_threshold
        self._size = os.fstat(fh.fileno()).st_size if hasattr(fh, "fileno") else None

    def find_class(self, module: str, name: str) -> Any:
        mod = module.replace("numpy.core.", "numpy._core.")
        if mod == "numpy._core.multiarray" and name == "_reconstruct":
            return _safe_reconstruct(self._path)
        if mod == "numpy._core.multiarray" and name == "scalar":
            return _safe_scalar(self._path)
        if mod == "numpy._core.numeric" and name == "_frombuffer":
            return _safe_frombuffer(self._path)
        if module == "numpy" and name == "ndarray":
            return _NDARRAY
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module in ("builtins", "__builtin__") and name in _INERT_BUILTINS:
            return _INERT_BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise DataError(f"refused to unpickle '{module}.{name}': this file asks to import or call code that a "
                        "numpy data file never needs (loading it with np.load(allow_pickle=True) or pickle "
                        "would have run it)", where=self._path,
                        fix=f"do not use this file; delete it and get the original: {DOWNLOAD_HINT}")

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("pickle uses persistent ids, which numpy data files never do", where=self._path,
                        fix="re-download the file")

    def _payload(self, n: int) -> Any:
        in_frame = self._unframer.current_frame is not None
        if n < self._lazy_threshold or in_frame or self._size is None:
            data = self.read(n)
            if len(data) != n:
                raise DataError("file is truncated inside a pickle", where=self._path, fix="re-download the file")
            return data
        offset = self._fh.tell()
        if offset + n > self._size:
            raise DataError(f"file is truncated: an array needs {n} bytes at offset {offset}, the file has "
                            f"{self._size - offset}", where=self._path,
                            fix=f"re-download or re-create the file; {DOWNLOAD_HINT}")
        self._fh.seek(n, io.SEEK_CUR)
        return _Payload(self._path, offset, n)

    def load_binbytes(self) -> None:
        (n,) = unpack("<I", self.read(4))
        self.append(self._payload(n))

    def load_binbytes8(self) -> None:
        (n,) = unpack("<Q", self.read(8))
        self.append(self._payload(n))

    def load_bytearray8(self) -> None:
        (n,) = unpack("<Q", self.read(8))
        data = self._payload(n)
        self.append(data if isinstance(data, _Payload) else bytearray(data))

    def load_build(self) -> None:
        inst = self.stack[-2]
        if isinstance(inst, _ArrayBuilder):
            state = self.stack.pop()
            value = inst.build(state)
            self.stack[-1] = value
            for key, memo_value in list(self.memo.items()):
                if memo_value is inst:
                    self.memo[key] = value
            return
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.BUILD[0]] = load_build


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    return text.encode("latin1")


def safe_load(path: Path, lazy_threshold: int = LAZY_THRESHOLD) -> Any:
    """Read a pickle file or an ``np.save``-d object array without executing code.

    Plain ``.npy`` arrays (numeric dtype) are returned memory-mapped. An ``np.save``-d object
    (0-d object array, e.g. a dict) is returned as the object itself (what ``.item()`` gives).
    Large arrays come back as :class:`LazyArray`. Raises :class:`DataError` for unsafe or corrupt files.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
        fh.seek(0)
        try:
            if magic == b"\x93NUMPY":
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                if not dtype.hasobject:
                    return np.load(path, mmap_mode="r", allow_pickle=False)
                obj = SafeUnpickler(fh, path, lazy_threshold).load()
                if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
                    return obj.item()
                return obj
            return SafeUnpickler(fh, path, lazy_threshold).load()
        except DataError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, UnicodeDecodeError, MemoryError) as exc:
            raise DataError(f"cannot read the file ({type(exc).__name__}: {exc})", where=path,
                            fix=f"the file is corrupt or not a file of this dataset; re-download it "
                                f"({DOWNLOAD_HINT})") from exc


__all__ = ["LAZY_THRESHOLD", "LazyArray", "SafeUnpickler", "safe_load"]
