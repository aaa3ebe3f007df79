"""Benchmark the image models and the embedding cache on this machine (CPU unless --device says otherwise).

Measures, on procedurally drawn stimuli in THINGS layout:
- images/s of the weight-free models (pixels-colour-texture, random-convnet), load time excluded;
- images/s of real architectures with random-init weights planted in their published layouts
  (open_clip ViT-B-32 and a single-backbone dreamsim, open_clip_vitb32, aligned);
- the embedding cache: time of a miss (compute + write) vs a hit (key + read), and their ratio.

    python ci/bench_images.py                      # everything, ~1-3 min on 2 cores
    python ci/bench_images.py --no-heavy --n-images 512 --json out.json

Run from the repository root (it imports tests/images/fake_weights.py to plant the random weights).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rate(model, image_set, batch_size: int) -> dict:
    from bench.images.cache import compute_embeddings

    t0 = time.perf_counter()
    model.load()
    load = time.perf_counter() - t0
    compute_embeddings(model, image_set.__class__(image_set.name, image_set.root, image_set.ids[:2],
                                                  image_set.paths[:2]), batch_size=2, progress=False)  # warm-up
    t0 = time.perf_counter()
    out = compute_embeddings(model, image_set, batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - t0
    return {"model_id": model.model_id, "dim": int(out.shape[1]), "images": len(image_set),
            "load_s": round(load, 2), "embed_s": round(seconds, 3), "images_per_s": round(len(image_set) / seconds, 1)}


def _cache(model, image_set, settings, batch_size: int) -> dict:
    from bench.images import embed_image_set

    model.load()
    t0 = time.perf_counter()
    embed_image_set(model, image_set, settings, batch_size=batch_size, progress=False)
    miss = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed_image_set(model, image_set, settings, batch_size=batch_size, progress=False)
    hit = time.perf_counter() - t0
    return {"model_id": model.model_id, "images": len(image_set), "miss_s": round(miss, 3), "hit_s": round(hit, 4),
            "miss_over_hit": round(miss / hit, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=256, help="stimuli for the weight-free models")
    parser.add_argument("--n-heavy", type=int, default=16, help="stimuli for the real architectures")
    parser.add_argument("--size", type=int, default=128, help="stimulus side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-heavy", action="store_true", help="skip open_clip / dreamsim")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from bench.images import build_image_model, image_set_from_folder
    from bench.settings import load_settings
    from tests.images.synthetic_images import write_image_folder

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                 "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                 "device": args.device}, "throughput": [], "cache": []}
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        tmp = Path(tmp)
        settings = load_settings(cache_dir=tmp / "cache", weights_dir=tmp / "weights", device=args.device)
        per_concept = 4
        folder = write_image_folder(tmp / "stimuli", n_concepts=max(1, args.n_images // per_concept),
                                    per_concept=per_concept, size=args.size, seed=0)
        images = image_set_from_folder(folder, name="stimuli")
        heavy = images.__class__("stimuli-heavy", images.root, images.ids[:args.n_heavy], images.paths[:args.n_heavy])

        for name in ("pixels-colour-texture", "random-convnet"):
            results["throughput"].append(_rate(build_image_model(name, {}, settings), images, args.batch_size))
            print(results["throughput"][-1], flush=True)
        results["cache"].append(_cache(build_image_model("random-convnet", {"seed": 1}, settings), images, settings,
                                       args.batch_size))
        print(results["cache"][-1], flush=True)

        if not args.no_heavy:
            from tests.images.fake_weights import plant_dreamsim, plant_open_clip

            t0 = time.perf_counter()
            plant_open_clip(settings.weights_dir, "ViT-B-32", "openai", dtype=torch.float16)
            plant_dreamsim(settings.weights_dir, "open_clip_vitb32", dtype=torch.float16)
            results["planting_s"] = round(time.perf_counter() - t0, 1)
            for name, params in (("open_clip", {"model": "ViT-B-32", "pretrained": "openai"}),
                                 ("dreamsim", {"dreamsim_type": "open_clip_vitb32"})):
                model = build_image_model(name, params, settings)
                results["throughput"].append(_rate(model, heavy, args.batch_size))
                print(results["throughput"][-1], flush=True)
            model = build_image_model("dreamsim", {"dreamsim_type": "open_clip_vitb32"}, settings)
            results["cache"].append(_cache(model, heavy, settings, args.batch_size))
            print(results["cache"][-1], flush=True)

    print("\nimage model                                images/s   (load s)")
    for r in results["throughput"]:
        print(f"  {r['model_id']:<40} {r['images_per_s']:>8.1f}   ({r['load_s']})")
    print("cache                                      miss s     hit s    miss/hit")
    for r in results["cache"]:
        print(f"  {r['model_id']:<40} {r['miss_s']:>7.2f}  {r['hit_s']:>8.4f}  {r['miss_over_hit']:>8.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
