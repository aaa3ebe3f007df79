"""Process-level CPU performance switches, applied explicitly (never on import), and hardware checks.

``bf16_supported(device)``: whether bf16 autocast has matmul hardware here (``recipe.precision: bf16``).

``tune_cpu_allocator()``: glibc's malloc returns every freed block above the mmap threshold (32 MB
at most, dynamically) to the kernel, so each training step re-faults its large activations page
by page (about 4x slower elementwise ops on a 46 MB tensor on the 2-core dev machine). Raising the
mmap and trim thresholds keeps those blocks in the heap for reuse. Call it once at process start
(the CLI/benchmark do, when running on the CPU); it affects the whole process and cannot be undone
except by calling it again with other values. Resident memory then stays at its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_cpu_allocator(mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 31) -> bool:
    """Set glibc ``M_MMAP_THRESHOLD``/``M_TRIM_THRESHOLD`` (bytes). Returns False where not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, int(min(mmap_threshold, 2**31 - 1)))
    ok_trim = mallopt(_M_TRIM_THRESHOLD, int(min(trim_threshold, 2**31 - 1)))
    return bool(ok_mmap and ok_trim)


def bf16_supported(device: "str | object") -> bool:
    """Whether bf16 autocast runs on bf16 matmul hardware here: CUDA with bf16 support, or a CPU with
    AMX tiles or AVX512-BF16 (on other CPUs torch emulates bf16 and is slower than fp32)."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))
    except RuntimeError:
        return False
