"""Simulated datasets written in their exact published on-disk layouts.

No dataset can be downloaded here and newcomers need to run the harness before they have data, so
every supported dataset has a *writer* registered in :data:`SIMULATORS` that produces the real file
layout from a generative model (``forward_model.py``) and procedural stimuli (``stimuli.py``). The
real loaders then read the simulated files exactly as they would read the published ones.

A writer is a function ``write(out, *, size, subjects, seed, snr, variant, progress) -> Path``
registered by dataset name::

    from bench.data.simulate import SIMULATORS

    @SIMULATORS.register("things-eeg2")
    def write_things_eeg2(out, *, size="tiny", subjects=2, seed=0, snr=..., variant="250hz",
                          progress=False) -> Path: ...

Use :func:`bench.data.ensure.ensure_simulated` to get a cached, atomically written copy.

Shared helpers here: writing a pickle whose big array is streamed block by block
(:func:`dump_pickle_streamed`, :func:`save_npy_object_streamed`) with bytes identical to what
``pickle.dump`` / ``np.save`` would write for the materialised object, and the ``simulation.json``
sidecar that describes how a simulated folder was made.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from struct import pack
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from bench.registry import Registry

SIMULATORS: Registry[Callable[..., Path]] = Registry("simulator", "bench.data.simulate", symbol="SIMULATORS")

SIMULATION_FILE = "simulation.json"
"""Sidecar written at the root of every simulated dataset (the published layout plus this file)."""


# --------------------------------------------------------------------------------------------
# Streaming pickles: bytes equal to pickle.dump of the materialised object, O(block) memory.
# --------------------------------------------------------------------------------------------

class StreamedArray:
    """Stands in for a C-ordered ndarray whose data are produced block by block while pickling.

    ``blocks()`` must yield arrays of ``dtype`` whose concatenation along axis 0 has ``shape`` (each
    is written before the next is asked for, so a generator may reuse one buffer).
    Pickled (by :func:`dump_pickle_streamed`) exactly like ``np.ndarray.__reduce__`` would pickle
    the full array (protocol 2-4: ``_reconstruct`` + ``(1, shape, dtype, False, raw_bytes)``), but
    the raw bytes are written to the file as the blocks arrive, never joined in memory.
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, blocks: Callable[[], Iterable[np.ndarray]]) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.blocks = blocks

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __reduce_ex__(self, protocol: int):
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (0,), b"b"),
                (1, self.shape, self.dtype, False, _StreamedBytes(self)))

    def materialize(self) -> np.ndarray:
        """The whole array in memory (tests and small sizes only)."""
        return np.concatenate([np.array(b, dtype=self.dtype) for b in self.blocks()]).reshape(self.shape)


class _StreamedBytes:
    """The raw-bytes part of a :class:`StreamedArray`'s pickle state."""

    def __init__(self, array: StreamedArray) -> None:
        self.array = array

    def chunks(self) -> Iterator[memoryview]:
        written = 0
        trailing = self.array.shape[1:]
        for block in self.array.blocks():
            block = np.ascontiguousarray(block, dtype=self.array.dtype)
            if block.shape[1:] != trailing:
                raise ValueError(f"streamed block has shape {block.shape}, expected (*, {trailing})")
            written += block.nbytes
            yield memoryview(block).cast("B")
        if written != self.array.nbytes:
            raise ValueError(f"streamed blocks gave {written} bytes, expected {self.array.nbytes}")


class _StreamingPickler(pickle._Pickler):  # the pure-Python pickler: same bytes as the C one
    """Pickler that writes :class:`_StreamedBytes` exactly as ``save_bytes`` would write bytes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_streamed_bytes(self, obj: _StreamedBytes) -> None:
        n = obj.array.nbytes
        framer = self.framer
        if n <= 0xFF:
            header = pickle.SHORT_BINBYTES + pack("<B", n)
        elif n > 0xFFFFFFFF and self.proto >= 4:
            header = pickle.BINBYTES8 + pack("<Q", n)
        else:
            header = pickle.BINBYTES + pack("<I", n)
        if self.proto >= 4 and n >= framer._FRAME_SIZE_TARGET:
            # _Framer.write_large_bytes: close the current frame, write header + payload unframed.
            if framer.current_frame:
                framer.commit_frame(force=True)
            framer.file_write(header)
            for chunk in obj.chunks():
                framer.file_write(chunk)
        else:
            self.write(header + b"".join(bytes(c) for c in obj.chunks()))
        self.memoize(obj)

    dispatch[_StreamedBytes] = save_streamed_bytes


def dump_pickle_streamed(obj: Any, fh: BinaryIO, protocol: int = 4) -> None:
    """``pickle.dump(obj, fh, protocol)`` where :class:`StreamedArray` values are streamed.

    The bytes equal those of ``pickle.dump`` of the same object with every :class:`StreamedArray`
    replaced by its materialised ndarray (tested byte for byte), so a 8 GB float64 array is written
    with one block in memory. Protocols 3 and 4 only (protocol 5 pickles ndarrays differently).
    """
    if protocol not in (3, 4):
        raise ValueError("streamed pickles support protocol 3 or 4")
    _StreamingPickler(fh, protocol=protocol).dump(obj)


def save_npy_object_streamed(obj: Any, fh: BinaryIO) -> None:
    """``np.save(fh, obj, allow_pickle=True)`` for a dict ``obj``, streaming its StreamedArrays.

    ``np.save`` wraps ``obj`` in a 0-d object array, writes a version-1.0 ``.npy`` header and
    pickles the array with protocol 4; this does the same (byte-identical, tested).
    """
    wrapper = np.empty((), dtype=object)
    wrapper[()] = obj
    np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(wrapper))
    _StreamingPickler(fh, protocol=4, fix_imports=True).dump(wrapper)


# --------------------------------------------------------------------------------------------
# Sidecar
# --------------------------------------------------------------------------------------------

def write_simulation_info(root: Path, info: dict[str, Any]) -> None:
    """Write ``simulation.json`` describing how the simulated dataset at ``root`` was made."""
    (Path(root) / SIMULATION_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_simulation_info(root: Path) -> dict[str, Any] | None:
    """The ``simulation.json`` of ``root``, or None for real (or foreign) data."""
    path = Path(root) / SIMULATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


__all__ = ["SIMULATORS", "SIMULATION_FILE", "StreamedArray", "dump_pickle_streamed",
           "save_npy_object_streamed", "write_simulation_info", "read_simulation_info"]
