"""Benchmark brain-encoder training (NICE, ATM-S) against a naive loop and this machine's FLOP floor.

Per encoder and input size (small 17 x 100, N = 2,048; full 63 x 250, N = 16,540 as THINGS-EEG2;
batch 128, D = 768), printed per training epoch (extrapolated from measured steps):

- ours:   ``bench.training.fit`` (in-memory batches, NICE conv block reformulated), train time only;
- naive:  the published style: a ``Dataset`` whose ``__getitem__`` returns one item, a
          ``DataLoader`` with the default collate, the literal NICE ops (Conv2d + AvgPool2d);
- floor:  model FLOPs per epoch (forward + backward, counted with ``FlopCounterMode`` on the
          formulation we run, the one with the fewest FLOPs: the strictest floor) / the measured
          peak matmul throughput of this device (large matmul in the training dtype); the floors
          of the composed-kernel and literal formulations are printed too;
- the ratios ours / naive and ours / floor, peak memory (RSS on CPU, allocated on CUDA), and the
  NICE-block variants tried: literal NCHW, literal channels-last, composed kernel as an NCHW conv,
  composed kernel as a GEMM, box-first GEMM ("fast", the default), and the fast path under
  ``torch.compile`` (NICE only; skipped with --quick / --no-compile).

Every measurement runs in its own subprocess (clean peak memory, no allocator or compile state
carried over). Timings are the minimum over measured steps (the median is shown too): on a shared
machine the minimum is the best estimate of what the code costs; the load average is printed.

    python ci/bench_training.py                 # ~3-5 min on 2 CPU cores
    python ci/bench_training.py --quick         # smoke run, < 1 min
    python ci/bench_training.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"small": {"n_chans": 17, "n_times": 100, "n_items": 2048},
         "full": {"n_chans": 63, "n_times": 250, "n_items": 16540}}
ENCODERS = ("nice", "atm-s")
BATCH = 128
DIM = 768


# ------------------------------------------------------------------------------------ worker side
class _PeakRSS:
    """Peak resident memory of a section: the kernel's high-water mark (``ru_maxrss``) at its end minus
    the resident size at its start. No sampling thread (one would steal a core from the OpenMP
    threads and slow every step down); each measurement runs in a fresh process."""

    def __enter__(self) -> "_PeakRSS":
        import psutil

        self.base = psutil.Process().memory_info().rss
        self.peak = self.base
        return self

    def __exit__(self, *exc) -> None:
        import resource

        self.peak = max(self.base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _setup(spec: dict):
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    if spec["device"] == "cpu" and spec.get("tune_alloc", True):
        from bench.training import tune_cpu_allocator

        tune_cpu_allocator()
    return torch


def _model(spec: dict, impl: str = "fast"):
    from bench.config.schema import ComponentSpec
    from bench.encoders import build_encoder

    size = SIZES[spec["size"]]
    return build_encoder(ComponentSpec(name=spec["encoder"], params={"impl": impl}),
                         {"n_chans": size["n_chans"], "n_times": size["n_times"], "sfreq": 250.0}, DIM,
                         subjects=[1], seed=0)


def _data(torch, n: int, size: dict, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    signals = torch.randn(n, size["n_chans"], size["n_times"], generator=g)
    targets = torch.nn.functional.normalize(torch.randn(n, DIM, generator=g), dim=1)
    return signals, targets


def _memory(torch, device: str, rss: "_PeakRSS | None") -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return (rss.peak - rss.base) / 2**20 if rss else float("nan")


def worker_ours(spec: dict) -> dict:
    torch = _setup(spec)
    from bench.config.schema import RecipeSpec
    from bench.training import TrainingSet, fit

    size = SIZES[spec["size"]]
    steps, epochs = spec["steps"], spec["epochs"]
    n = steps * BATCH
    signals, targets = _data(torch, n + 256, size)
    image = torch.arange(n + 256)
    ones = torch.ones(n + 256, dtype=torch.long)
    train = TrainingSet(signals[:n], targets[:n], image[:n], image[:n], ones[:n])
    val = TrainingSet(signals[n:], targets[n:], image[n:], image[n:], ones[n:])
    recipe = RecipeSpec(epochs=epochs, batch_size=BATCH, early_stopping_patience=None)
    model = _model(spec, spec.get("impl", "fast"))
    if spec["device"].startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with _PeakRSS() as rss:
        result = fit(model, train, val, recipe, seed=0, device=spec["device"], progress=False,
                     compile=spec.get("compile", False))
    per_step = [s / steps for s in result.curves["train_seconds"][1:]]  # epoch 1 is the warm-up
    per_step_cpu = [s / steps for s in result.curves["train_cpu_seconds"][1:]]
    return {"step_s": min(per_step), "step_s_median": sorted(per_step)[len(per_step) // 2],
            "step_cpu_s": min(per_step_cpu), "memory_mb": _memory(torch, spec["device"], rss),
            "steps_timed": steps * len(per_step)}


def _nice_block_variant(model, variant: str):
    """Patch the NICE conv block of ``model`` to run ``variant`` (same parameters, same function)."""
    import types

    import torch
    import torch.nn.functional as F

    block = model.block
    if variant in ("literal", "composed", "fast"):
        block.impl = variant
        return model
    if variant == "literal-channels-last":
        block.impl = "literal"
        block.to(memory_format=torch.channels_last)

        def forward(self, x):
            h = self.tsconv(x.unsqueeze(1).contiguous(memory_format=torch.channels_last))
            h = self.projection(h)
            return h.flatten(2).transpose(1, 2).flatten(1)
    elif variant == "composed-nchw":
        def forward(self, x):
            conv = self.tsconv[0]
            k = self.composed_kernel().view(self.n_filters, 1, 1, -1)
            h = F.conv2d(x.unsqueeze(1), k, conv.bias, stride=(1, self.pool_stride))
            h = self.tsconv[2:](h)
            h = self.projection(h)
            return h.flatten(2).transpose(1, 2).flatten(1)
    else:
        raise ValueError(variant)
    block.forward = types.MethodType(forward, block)
    return model


def worker_step(spec: dict) -> dict:
    """Raw training steps (forward + InfoNCE + backward + AdamW) of one NICE-block variant."""
    torch = _setup(spec)
    from bench.training.losses import info_nce

    size = SIZES[spec["size"]]
    device = torch.device(spec["device"])
    model = _nice_block_variant(_model(spec), spec["variant"]).to(device).train()
    step_model = torch.compile(model) if spec.get("compile") else model
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
    x, y = (t.to(device) for t in _data(torch, BATCH, size))
    subj = torch.ones(BATCH, dtype=torch.long, device=device)
    amp = device.type == "cuda"
    times, cpu = [], []
    t_first = None
    with _PeakRSS() as rss:
        for i in range(spec["steps"] + spec.get("warmup", 1)):
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = step_model(x, subj)
            loss = info_nce(out.float(), y, 1 / 0.07)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if amp:
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            if t_first is None:
                t_first = dt
            if i >= spec.get("warmup", 1):
                times.append(dt)
                cpu.append(time.process_time() - c0)
    return {"step_s": min(times), "step_s_median": sorted(times)[len(times) // 2], "first_step_s": t_first,
            "step_cpu_s": min(cpu), "memory_mb": _memory(torch, spec["device"], rss)}


def worker_naive(spec: dict) -> dict:
    """The published loop: per-item Dataset, default-collate DataLoader, literal model, fp32."""
    torch = _setup(spec)
    import numpy as np
    from torch.utils.data import DataLoader, Dataset

    from bench.training.losses import info_nce

    size = SIZES[spec["size"]]
    n = (spec["steps"] + 1) * BATCH
    signals, targets = _data(torch, n, size)
    eeg_np, feat_np = signals.numpy(), targets.numpy()
    labels = np.arange(n)

    class EEGDataset(Dataset):  # as in ATM's / NICE's code: one item at a time, tensors built per item
        def __len__(self):
            return n

        def __getitem__(self, i):
            return (torch.from_numpy(eeg_np[i]).float(), int(labels[i]), int(labels[i]),
                    torch.from_numpy(feat_np[i]).float())

    device = torch.device(spec["device"])
    model = _model(spec, "literal").to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    loader = DataLoader(EEGDataset(), batch_size=BATCH, shuffle=True, num_workers=0, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    times, cpu = [], []
    with _PeakRSS() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        for i, (eeg, label, img_idx, feat) in enumerate(loader):
            eeg, feat = eeg.to(device), feat.to(device)
            out = model(eeg, torch.ones(len(eeg), dtype=torch.long, device=device))
            loss = info_nce(out, feat, 1 / 0.07)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            t1, c1 = time.perf_counter(), time.process_time()
            if i >= 1:
                times.append(t1 - t0)
                cpu.append(c1 - c0)
            t0, c0 = t1, c1
    return {"step_s": min(times), "step_s_median": sorted(times)[len(times) // 2], "step_cpu_s": min(cpu),
            "memory_mb": _memory(torch, spec["device"], rss)}


def worker_flops(spec: dict) -> dict:
    """Forward + backward FLOPs of one training step (fast and literal formulations)."""
    torch = _setup(spec)
    from torch.utils.flop_counter import FlopCounterMode

    from bench.training.losses import info_nce

    size = SIZES[spec["size"]]
    out = {}
    for impl in ("fast", "composed", "literal"):
        model = _model(spec, impl).train()
        x, y = _data(torch, BATCH, size)
        with FlopCounterMode(display=False) as counter:
            loss = info_nce(model(x), y, 1 / 0.07)
            loss.backward()
        out[f"flops_{impl}"] = counter.get_total_flops()
    return out


def worker_peak(spec: dict) -> dict:
    """Peak matmul throughput (FLOP/s) in the training dtype: best of repeated large matmuls."""
    torch = _setup(spec)
    device = torch.device(spec["device"])
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n = 8192 if device.type == "cuda" else 4096
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = best_cpu = float("inf")
    a @ b
    for _ in range(spec.get("repeats", 6)):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"peak_flops": 2 * n**3 / best, "peak_flops_per_cpu_s": 2 * n**3 / best_cpu,
            "dtype": str(dtype).replace("torch.", "")}


WORKERS = {"ours": worker_ours, "step": worker_step, "naive": worker_naive, "flops": worker_flops,
           "peak": worker_peak}


# ------------------------------------------------------------------------------------ parent side
def run_worker(spec: dict, timeout: float = 600) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def device_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda}, bf16 AMP)"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, fp32"


def _fmt_s(x: float) -> str:
    return f"{x:8.2f}s" if x >= 1 else f"{x * 1000:7.1f}ms"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small size only (unless --sizes), 2 steps, no torch.compile variant")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--steps", type=int, default=None, help="measured steps per measurement")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--sizes", default=None, help="small,full (default; --quick: small)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--no-variants", action="store_true", help="skip the NICE-block variants")
    parser.add_argument("--no-tune-alloc", action="store_true", help="leave glibc malloc thresholds alone")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        spec = json.loads(args.worker)
        result = WORKERS[spec["kind"]](spec)
        print(json.dumps(result))
        return result

    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (2 if args.quick else 4)
    epochs = 3 if args.quick else 6   # fit() epochs of `steps` steps each; the first is a warm-up
    sizes = args.sizes or ("small" if args.quick else "small,full")
    common = {"device": device, "threads": args.threads, "tune_alloc": not args.no_tune_alloc}
    load_before = os.getloadavg()
    t_start = time.time()
    print(f"device: {device_description(device)}")
    print(f"load average before: {load_before[0]:.2f} (other processes on this machine make timings noisy)")
    peak = run_worker({**common, "kind": "peak"})
    on_cpu = device == "cpu"
    print(f"peak matmul: {peak['peak_flops'] / 1e9:.1f} GFLOP/s ({peak['dtype']})"
          + (f"; {peak['peak_flops_per_cpu_s'] / 1e9:.1f} GFLOP per CPU-second" if on_cpu else ""))
    if on_cpu:
        print("timings: wall = min wall time per step; cpu = process CPU time (all threads), compared with the "
              "matmul's FLOP per CPU-second -- robust when other processes share the cores")
    print()

    results: dict = {"device": device_description(device), "peak_flops": peak["peak_flops"],
                     "peak_flops_per_cpu_s": peak.get("peak_flops_per_cpu_s"), "runs": []}
    for encoder in args.encoders.split(","):
        for size_name in sizes.split(","):
            size = SIZES[size_name]
            spec = {**common, "encoder": encoder, "size": size_name}
            steps_per_epoch = size["n_items"] // BATCH
            flops = run_worker({**spec, "kind": "flops"})
            ours = run_worker({**spec, "kind": "ours", "steps": steps, "epochs": epochs})
            naive = run_worker({**spec, "kind": "naive", "steps": 2 if args.quick else 6})
            floors = {impl: flops[f"flops_{impl}"] * steps_per_epoch / peak["peak_flops"]
                      for impl in ("fast", "composed", "literal")}
            ours_epoch = ours["step_s"] * steps_per_epoch
            naive_epoch = naive["step_s"] * steps_per_epoch
            row = {"encoder": encoder, "size": size_name, "input": f"{BATCH}x{size['n_chans']}x{size['n_times']}",
                   "n_items": size["n_items"], "steps_per_epoch": steps_per_epoch,
                   "flops_per_step": flops["flops_fast"], "flops_per_step_composed": flops["flops_composed"],
                   "flops_per_step_literal": flops["flops_literal"],
                   "floor_epoch_s": floors["fast"], "floor_composed_epoch_s": floors["composed"],
                   "floor_literal_epoch_s": floors["literal"],
                   "ours_epoch_s": ours_epoch, "ours_epoch_s_median": ours["step_s_median"] * steps_per_epoch,
                   "naive_epoch_s": naive_epoch,
                   "ours_over_naive": ours_epoch / naive_epoch, "ours_over_floor": ours_epoch / floors["fast"],
                   "ours_memory_mb": ours["memory_mb"], "naive_memory_mb": naive["memory_mb"], "variants": {}}
            if on_cpu:
                floor_cpu = flops["flops_fast"] * steps_per_epoch / peak["peak_flops_per_cpu_s"]
                row.update(ours_cpu_epoch_s=ours["step_cpu_s"] * steps_per_epoch,
                           naive_cpu_epoch_s=naive["step_cpu_s"] * steps_per_epoch, floor_cpu_epoch_s=floor_cpu,
                           ours_over_naive_cpu=ours["step_cpu_s"] / naive["step_cpu_s"],
                           ours_over_floor_cpu=ours["step_cpu_s"] * steps_per_epoch / floor_cpu)
            print(f"== {encoder} {size_name}: batch {row['input']}, N = {size['n_items']} "
                  f"({steps_per_epoch} steps/epoch), {flops['flops_fast'] / 1e9:.2f} GFLOP/step "
                  f"(composed kernel: {flops['flops_composed'] / 1e9:.2f}, literal ops: "
                  f"{flops['flops_literal'] / 1e9:.2f})")

            def line(label: str, wall: float, cpu: float | None, extra: str = "") -> None:
                cpu_txt = f"   cpu {_fmt_s(cpu)}" if cpu is not None else ""
                print(f"   {label:6s} wall {_fmt_s(wall)}/epoch{cpu_txt}{extra}")

            line("ours", ours_epoch, row.get("ours_cpu_epoch_s"),
                 f"   (wall median {_fmt_s(row['ours_epoch_s_median']).strip()}, peak mem +{ours['memory_mb']:.0f} MB)")
            line("naive", naive_epoch, row.get("naive_cpu_epoch_s"),
                 f"   (per-item Dataset + DataLoader + literal ops, peak mem +{naive['memory_mb']:.0f} MB)")
            line("floor", floors["fast"], row.get("floor_cpu_epoch_s"),
                 f"   (FLOPs run / peak matmul; wall floor on composed-kernel FLOPs "
                 f"{_fmt_s(floors['composed']).strip()}, on literal FLOPs {_fmt_s(floors['literal']).strip()})")
            cpu_ratios = (f"   | cpu: ours/naive = {row['ours_over_naive_cpu']:.2f}, ours/floor = "
                          f"{row['ours_over_floor_cpu']:.2f}" if on_cpu else "")
            print(f"   wall: ours/naive = {row['ours_over_naive']:.2f}, ours/floor = {row['ours_over_floor']:.2f} "
                  f"(vs composed-kernel floor {ours_epoch / floors['composed']:.2f}){cpu_ratios}")
            if not args.no_variants:
                variants = ["literal", "literal-channels-last", "composed-nchw", "composed", "fast"]
                if encoder != "nice":
                    variants = ["literal", "composed", "fast"]
                vsteps = 2 if args.quick else 4
                for variant in variants:
                    r = run_worker({**spec, "kind": "step", "variant": variant, "steps": vsteps})
                    row["variants"][variant] = r
                if encoder == "nice" and not (args.quick or args.no_compile):  # ATM compiles for minutes
                    r = run_worker({**spec, "kind": "step", "variant": "fast", "compile": True, "steps": vsteps,
                                    "warmup": 2})
                    row["variants"]["fast+compile"] = r
                base = row["variants"]["fast"]
                print("   variants (raw step: forward + loss + backward + AdamW, min over steps):")
                for name, r in row["variants"].items():
                    extra = f", first step {r['first_step_s']:.1f}s (compile)" if name.endswith("compile") else ""
                    cpu_txt = (f"  cpu {_fmt_s(r['step_cpu_s'])} x{r['step_cpu_s'] / base['step_cpu_s']:5.2f}"
                               if on_cpu else "")
                    ratio = r["step_s"] / base["step_s"]
                    print(f"     {name:22s} wall {_fmt_s(r['step_s'])}/step x{ratio:5.2f} vs fast"
                          f"{cpu_txt}  mem +{r['memory_mb']:.0f} MB{extra}")
            print()
            results["runs"].append(row)
    load_after = os.getloadavg()
    results["load_average"] = [load_before[0], load_after[0]]
    results["seconds"] = time.time() - t_start
    print(f"load average after: {load_after[0]:.2f}; total {results['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
