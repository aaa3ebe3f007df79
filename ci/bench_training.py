"""Training steps against this machine's roofline, measured in one process, interleaved, min of N.

For each encoder (NICE, ATM-S, EEGNet, EEGConformer), precision (fp32, bf16 autocast) and thread
count (1, 2), one training step -- forward, the recipe's InfoNCE loss, backward, fused AdamW, exactly
the ops of ``bench.training.fit`` -- is timed together with this machine's peak GEMM rate and
memory bandwidth, *in the same process, at the same thread count, interleaved round by round*, and
each figure is the minimum over the rounds (on a shared machine the minimum is the best estimate of
what the code costs; a peak taken once, in another process, is fragile).

- **FLOP floor** = FLOPs of one step (forward + backward, counted with ``FlopCounterMode`` on the
  formulation with the fewest FLOPs: for NICE/ATM-S the unfolded ``fast`` one) / the peak GEMM rate
  (a 2048^2 matmul in the step's precision).
- **roofline floor** = max(FLOP floor, bytes / bandwidth), with the bytes counted per step: the sum,
  over the step's aten ops, of the sizes of their input and output tensors of at least 1 MiB (what
  cannot stay in cache; a view moves nothing), divided by the measured copy bandwidth (256 MiB).
- **ours / published**: the same step with the published formulation (NICE/ATM-S ``impl: literal``,
  the literal Conv2d + AvgPool2d + BatchNorm ops), in the same rounds.

Time is thread CPU time (``time.thread_time``) at 1 thread -- robust to other processes sharing the
cores -- and wall time at 2 threads (CPU time of spinning OpenMP threads is not a cost measure);
on CUDA, wall time after ``synchronize``. The load average is printed: read the figures with it.

    python ci/bench_training.py                    # full: batch 128 x 63 x 250, 5 rounds, 1 and 2 threads
    python ci/bench_training.py --quick            # < 1 min: batch 16, 2 rounds, 1 thread
    python ci/bench_training.py --device cuda      # the CUDA path (threads do not apply)
    python ci/bench_training.py --json out.json --encoders nice,atm-s --dtypes fp32 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

ENCODERS = ("nice", "atm-s", "eegnet", "eegconformer")
#: encoders whose published formulation differs from ours (``impl: literal``)
WITH_LITERAL = ("nice", "atm-s")
DIM = 768
MIN_BYTES = 1 << 20


# --------------------------------------------------------------------------------------- measuring
class Timer:
    """Thread CPU time at 1 thread on the CPU; wall time otherwise (on CUDA after synchronize)."""

    def __init__(self, device: torch.device, threads: int | None) -> None:
        self.device = device
        self.cpu_time = device.type == "cpu" and threads == 1
        self.kind = "thread CPU time" if self.cpu_time else "wall time"

    def __call__(self, fn: Callable[[], object]) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        clock = time.thread_time if self.cpu_time else time.perf_counter
        t0 = clock()
        fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return clock() - t0


def gemm_probe(device: torch.device, dtype: torch.dtype, n: int) -> tuple[Callable[[], object], float]:
    """A square matmul (closure) and its FLOPs."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return (lambda: torch.mm(a, b)), 2.0 * n ** 3


def copy_probe(device: torch.device, mib: int) -> tuple[Callable[[], object], float]:
    """A large tensor copy (closure) and the bytes it moves (read + write)."""
    src = torch.randn(mib * (1 << 20) // 4, device=device)
    dst = torch.empty_like(src)
    return (lambda: dst.copy_(src)), 2.0 * src.numel() * 4


@dataclass
class Case:
    """One training step of an encoder in one formulation and precision."""

    encoder: str
    impl: str                      # "ours" or "published"
    dtype: str                     # "fp32" or "bf16"
    step: Callable[[], object]
    flops: float = 0.0
    bytes: float = 0.0
    times: list[float] = field(default_factory=list)


def build_step(encoder: str, impl: str, dtype: str, shape: dict, batch: int, device: torch.device,
               seed: int = 0) -> Callable[[], object]:
    """A closure running one training step as ``fit`` does (same optimiser builder, same loss module)."""
    from bench.config.schema import ComponentSpec, RecipeSpec
    from bench.encoders import build_encoder
    from bench.training.loop import _optimizer
    from bench.training.losses import build_loss

    params = {"impl": "literal" if impl == "published" else "fast"} if encoder in WITH_LITERAL else {}
    model = build_encoder(ComponentSpec(name=encoder, params=params), shape, DIM, subjects=[1],
                          seed=seed).to(device).train()
    recipe = RecipeSpec(batch_size=batch)
    loss_fn = build_loss(recipe).to(device)
    opt = _optimizer([{"params": list(model.parameters())}], recipe)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, shape["n_chans"], shape["n_times"], generator=g).to(device)
    y = torch.nn.functional.normalize(torch.randn(batch, DIM, generator=g), dim=1).to(device)
    subj = torch.ones(batch, dtype=torch.long, device=device)
    amp = dtype == "bf16"

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x, subj)
        loss = loss_fn(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    step.model = model  # type: ignore[attr-defined]
    return step


def count_flops(step: Callable[[], object]) -> float:
    """FLOPs of one call of ``step`` (matmuls and convolutions, forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def count_bytes(step: Callable[[], object], min_bytes: int = MIN_BYTES) -> float:
    """Bytes one call of ``step`` moves through memory: over its aten ops (views excluded), the sizes
    of the input and output tensors of at least ``min_bytes`` (logical size, at most the storage's)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    def size(t: object) -> int:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return 0
        n = min(t.numel() * t.element_size(), t.untyped_storage().nbytes())
        return n if n >= min_bytes else 0

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view and func.__name__.split(".")[0] not in ("detach", "empty", "empty_like",
                                                                       "empty_strided", "lift_fresh"):
                Counter.total += sum(size(t) for t in tree_leaves((args, kwargs, out)))
            return out

    with Counter():
        step()
    return float(Counter.total)


def measure(device: torch.device, threads: int | None, cases: list[Case], rounds: int,
            gemm_n: int, copy_mib: int, dtypes: list[str]) -> dict:
    """Interleave the probes and every case's step for ``rounds`` rounds; keep the minima."""
    timer = Timer(device, threads)
    probes = {d: gemm_probe(device, torch.bfloat16 if d == "bf16" else torch.float32, gemm_n) for d in dtypes}
    copy, copy_bytes = copy_probe(device, copy_mib)
    peak = {d: float("inf") for d in dtypes}
    bw = float("inf")
    for case in cases:        # warm-up (allocator, first-call overheads)
        case.step()
    for fn, _ in probes.values():
        fn()
    copy()
    for _ in range(rounds):
        for d, (fn, _) in probes.items():
            peak[d] = min(peak[d], timer(fn))
        bw = min(bw, timer(copy))
        for case in cases:
            case.times.append(timer(case.step))
    return {"timer": timer.kind, "peak_flops": {d: probes[d][1] / peak[d] for d in dtypes},
            "bandwidth": copy_bytes / bw}


# ------------------------------------------------------------------------------------------ report
def rows_for(cases: list[Case], probes: dict, threads: int | None) -> list[dict]:
    """Per (encoder, dtype): ours, published, both floors and ratios."""
    rows = []
    floor_flops = {}
    for c in cases:  # the fewest FLOPs over formulations: the strictest floor
        key = (c.encoder, c.dtype)
        floor_flops[key] = min(floor_flops.get(key, float("inf")), c.flops)
    for c in cases:
        if c.impl != "ours":
            continue
        key = (c.encoder, c.dtype)
        published = next((p for p in cases if p.impl == "published" and (p.encoder, p.dtype) == key), None)
        t = min(c.times)
        flop_floor = floor_flops[key] / probes["peak_flops"][c.dtype]
        byte_floor = c.bytes / probes["bandwidth"]
        roof = max(flop_floor, byte_floor)
        row = {"encoder": c.encoder, "dtype": c.dtype, "threads": threads, "step_s": t,
               "step_s_median": sorted(c.times)[len(c.times) // 2], "flops": c.flops,
               "floor_flops": floor_flops[key], "bytes": c.bytes,
               "peak_flops": probes["peak_flops"][c.dtype], "bandwidth": probes["bandwidth"],
               "flop_floor_s": flop_floor, "byte_floor_s": byte_floor, "roofline_floor_s": roof,
               "ours_over_flop_floor": t / flop_floor, "ours_over_roofline": t / roof, "timer": probes["timer"]}
        if published is not None:
            tp = min(published.times)
            row.update(published_step_s=tp, published_flops=published.flops, published_bytes=published.bytes,
                       published_over_flop_floor=tp / flop_floor, ours_over_published=t / tp)
        rows.append(row)
    return rows


def _ms(x: float) -> str:
    return f"{x * 1000:8.1f}"


def print_rows(rows: list[dict]) -> None:
    print(f"  {'encoder':13s} {'dtype':5s} {'ours ms':>8s} {'GFLOP':>6s} {'MB':>6s} {'flop fl':>8s} "
          f"{'roof fl':>8s} {'/flop':>6s} {'/roof':>6s} {'publ ms':>8s} {'publ/fl':>7s} {'ours/publ':>9s}")
    for r in rows:
        pub = (f"{_ms(r['published_step_s'])} {r['published_over_flop_floor']:7.2f} {r['ours_over_published']:9.3f}"
               if "published_step_s" in r else f"{'-':>8s} {'-':>7s} {'-':>9s}")
        print(f"  {r['encoder']:13s} {r['dtype']:5s} {_ms(r['step_s'])} {r['floor_flops'] / 1e9:6.2f} "
              f"{r['bytes'] / 1e6:6.0f} {_ms(r['flop_floor_s'])} {_ms(r['roofline_floor_s'])} "
              f"{r['ours_over_flop_floor']:6.2f} {r['ours_over_roofline']:6.2f} {pub}")


def run(encoders: list[str], dtypes: list[str], threads_list: list[int | None], device: torch.device,
        shape: dict, batch: int, rounds: int, gemm_n: int = 2048, copy_mib: int = 256,
        verbose: bool = True, min_bytes: int = MIN_BYTES) -> dict:
    """Measure everything; returns ``{"runs": [rows...], ...}`` (also printed when ``verbose``)."""
    from bench.training.loop import _determinism

    if device.type == "cpu":
        from bench.training import tune_cpu_allocator

        tune_cpu_allocator()
    from bench.training.perf import bf16_supported

    if "bf16" in dtypes and not bf16_supported(device):
        if verbose:
            print("bf16: this device has no bf16 matmul units (AMX / AVX512-BF16 / CUDA bf16): skipped")
        dtypes = [d for d in dtypes if d != "bf16"]
    result: dict = {"device": describe(device), "batch": batch, "shape": shape, "rounds": rounds,
                    "load_average_before": os.getloadavg()[0], "runs": [], "probes": []}
    before = torch.get_num_threads()
    try:
        with _determinism(device, None):
            for threads in threads_list:
                if threads:
                    torch.set_num_threads(threads)
                cases = [Case(e, impl, d, build_step(e, impl, d, shape, batch, device))
                         for e in encoders for d in dtypes
                         for impl in (("ours", "published") if e in WITH_LITERAL else ("ours",))]
                for case in cases:
                    case.bytes = count_bytes(case.step, min_bytes)
                    block = getattr(case.step.model, "block", None)  # type: ignore[attr-defined]
                    if case.impl == "ours" and hasattr(block, "fold_batchnorm"):
                        # FLOPs counted op by op (FlopCounterMode does not see the chunked pass's in-place
                        # GEMMs); the strictest floor: also without the folded BatchNorm's Gram GEMM
                        block.chunked = False
                        case.flops = count_flops(case.step)
                        block.fold_batchnorm = False
                        case.flops = min(case.flops, count_flops(case.step))
                        block.fold_batchnorm = block.chunked = True
                    else:
                        case.flops = count_flops(case.step)
                probes = measure(device, threads, cases, rounds, gemm_n, copy_mib, dtypes)
                probes["threads"] = threads
                result["probes"].append(probes)
                rows = rows_for(cases, probes, threads)
                result["runs"] += rows
                if verbose:
                    peaks = ", ".join(f"{d} {v / 1e9:.1f} GFLOP/s" for d, v in probes["peak_flops"].items())
                    print(f"\n{threads or '-'} thread(s) [{probes['timer']}, min of {rounds} interleaved rounds]: "
                          f"peak GEMM {peaks}; copy bandwidth {probes['bandwidth'] / 1e9:.1f} GB/s")
                    print_rows(rows)
    finally:
        torch.set_num_threads(before)
    result["load_average_after"] = os.getloadavg()[0]
    return result


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    cpu = "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 16, 2 rounds, 1 thread (< 1 min on an idle 2-core machine)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--threads", default=None, help="comma list (default 1,2; --quick 1)")
    parser.add_argument("--batch", type=int, default=None, help="default 128 (--quick 16)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; --quick 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    threads = [int(t) for t in (args.threads or ("1" if args.quick else "1,2")).split(",")]
    threads_list: list[int | None] = [None] if device.type == "cuda" else threads
    batch = args.batch or (16 if args.quick else 128)
    rounds = args.rounds or (2 if args.quick else 5)
    shape = {"n_chans": 63, "n_times": 250, "sfreq": 250.0}
    t0 = time.time()
    print(f"device: {describe(device)}; batch {batch} x {shape['n_chans']} x {shape['n_times']}, D = {DIM}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes make every figure noisier)")
    big = device.type == "cuda"   # a GPU needs larger probes to reach its peak
    result = run(args.encoders.split(","), args.dtypes.split(","), threads_list, device, shape, batch, rounds,
                 gemm_n=8192 if big else 2048, copy_mib=2048 if big else 256)
    result["seconds"] = time.time() - t0
    print(f"\nload average after: {result['load_average_after']:.2f}; total {result['seconds']:.0f} s")
    print("columns: ours = min step; GFLOP = the strictest formulation's FLOPs; MB = bytes our step moves "
          "(tensors >= 1 MiB); flop fl = GFLOP / peak GEMM; roof fl = max(flop fl, MB / bandwidth); /flop, /roof = "
          "ours over those floors; publ = the published formulation (literal ops), same rounds")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
