"""Synthetic but plausible records for leaderboard tests (no training): resolved specs from the real
task/submission YAMLs, per-item ranks, metrics derived from them, k-way accuracies, learning curves."""

from __future__ import annotations

import math

import numpy as np

from bench.config import load_submission, load_task
from bench.metrics.retrieval import chance_levels
from bench.records.keys import unit_key
from bench.records.schema import Record

N_GALLERY = 200
K_WAYS = (2, 4, 10, 50, 100)
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> $\\frac{1}{0$ &amp;'


def task_spec(name: str = "things-eeg2-retrieval-200", subjects=(1, 2, 3, 4, 5), seeds=(0, 1, 2)) -> dict:
    return load_task(name, {"dataset": {"subjects": list(subjects)}, "seeds": list(seeds)}).spec.model_dump(mode="json")


def submission_spec(name: str, rename: str | None = None) -> dict:
    spec = load_submission(name).spec.model_dump(mode="json")
    if rename:
        spec["name"] = rename
    return spec


def _kway_expected(ranks: np.ndarray, k: int, top: int = 1) -> float:
    """Expected k-way top-``top`` accuracy when k-1 distractors are drawn from the other N-1 items."""
    others = N_GALLERY - 1
    acc = []
    for r in ranks:
        # P(fewer than `top` of the k-1 drawn distractors are among the r items that beat the true one)
        p = sum(math.comb(int(r), j) * math.comb(others - int(r), k - 1 - j) for j in range(top)) / math.comb(others, k - 1)
        acc.append(p)
    return float(np.mean(acc))


def unit_record(task: dict, sub: dict, subject: int, seed: int, top1_target: float, rng: np.random.Generator,
                status: str = "finished") -> Record:
    split = f"sub-{subject:02d}"
    key = unit_key(task_hash=task["name"], submission_hash=sub["name"], split=split, seed=seed, data_checksum="d0",
                   weights_checksum="w0")
    base = dict(key=key, task=task["name"], submission=sub["name"], split=split, subject=subject, seed=seed,
                task_spec=task, submission_spec=sub,
                provenance={"harness_version": "0.1.0", "code_version": "abc1234", "data_checksum": "d0" * 8,
                            "weights_checksum": "w0" * 8, "task_hash": "t" * 16, "submission_hash": "s" * 16})
    if status != "finished":
        return Record(status="failed", error="RuntimeError: CUDA out of memory", **base)
    p = float(np.clip(top1_target, 0.01, 0.95))
    hit = rng.random(N_GALLERY) < p
    ranks = np.where(hit, 0, np.minimum(N_GALLERY - 1, 1 + np.floor(rng.exponential(20, N_GALLERY)))).astype(int)
    metrics = {"top1": float(np.mean(ranks < 1)), "top5": float(np.mean(ranks < 5))}
    for k in K_WAYS:
        metrics[f"kway/{k}/top1"] = _kway_expected(ranks, k)
        if k >= 50:
            metrics[f"kway/{k}/top5"] = _kway_expected(ranks, k, 5)
    metrics["last_epoch/top1"] = max(0.0, metrics["top1"] - abs(rng.normal(0.01, 0.01)))
    epochs = int(rng.integers(8, 15))
    t = np.arange(1, epochs + 1)
    curves = {"train_loss": (4.0 * np.exp(-t / 6) + 1.0 + rng.normal(0, 0.02, epochs)).round(4).tolist(),
              "val_loss": (4.0 * np.exp(-t / 7) + 1.3 + 0.01 * t + rng.normal(0, 0.03, epochs)).round(4).tolist(),
              "val_top1": (p * (1 - np.exp(-t / 4)) + rng.normal(0, 0.01, epochs)).round(4).tolist()}
    chosen = int(np.argmin(curves["val_loss"])) + 1
    return Record(status="finished", metrics=metrics,
                  per_item={"item_id": [f"img{i:03d}" for i in range(N_GALLERY)], "rank": ranks.tolist()},
                  curves=curves, chosen_epoch=chosen, timings={"train": 12.0, "total": 15.0},
                  info={"n_gallery": N_GALLERY, "n_test": N_GALLERY,
                        "chance": chance_levels(N_GALLERY, (1, 5), K_WAYS)}, **base)


def make_board(effects: dict[str, tuple[str, float]], *, task: dict | None = None, seed: int = 0,
               drop: set | None = None, failed: set | None = None) -> list[Record]:
    """effects[name] = (submission YAML to take the spec from, true mean top-1). Subject offsets are shared
    across entries (paired tests have power). ``drop``/``failed``: (name, subject, seed) left out / failed."""
    task = task or task_spec()
    rng = np.random.default_rng(seed)
    subjects, seeds = task["dataset"]["subjects"], task["seeds"]
    offset = {s: rng.normal(0, 0.06) for s in subjects}
    out = []
    for name, (yaml_name, effect) in effects.items():
        sub = submission_spec(yaml_name, rename=name)
        for s in subjects:
            for sd in seeds:
                if drop and (name, s, sd) in drop:
                    continue
                status = "failed" if failed and (name, s, sd) in failed else "finished"
                out.append(unit_record(task, sub, s, sd, effect + offset[s] + rng.normal(0, 0.01), rng, status))
    return out


BOARD = {"nice_dreamsim": ("nice_dreamsim", 0.55), "atm_dreamsim": ("atm_dreamsim", 0.545),
         "nice_clip": ("nice_clip", 0.40), "eegnet_dreamsim": ("eegnet_dreamsim", 0.30),
         "nice_clip_partial": ("nice_clip", 0.70)}
PARTIAL_DROP = {("nice_clip_partial", 2, 1), ("nice_clip_partial", 4, 0)}
PARTIAL_FAILED = {("nice_clip_partial", 5, 2)}


def standard_records() -> list[Record]:
    """Five entries on the headline task (5 subjects × 3 seeds; one incomplete with a failed unit) and two on
    the simulated demo task (2 × 2)."""
    recs = make_board(BOARD, drop=PARTIAL_DROP, failed=PARTIAL_FAILED)
    demo_task = task_spec("things-eeg2-retrieval-200-demo", subjects=(1, 2), seeds=(0, 1))
    recs += make_board({"demo": ("demo", 0.12), "demo_atm": ("demo_atm", 0.10)}, task=demo_task, seed=1)
    return recs


def hostile_records() -> list[Record]:
    """A submission with hostile text in every free-text field, beside a normal one."""
    task = task_spec(subjects=(1, 2, 3), seeds=(0, 1))
    recs = make_board({"nice_dreamsim": ("nice_dreamsim", 0.5)}, task=task, seed=3)
    sub = submission_spec("nice_dreamsim", rename=HOSTILE)
    sub["description"] = "description " + HOSTILE
    sub["authors"] = ["author " + HOSTILE, "<b>bold</b> & co"]
    sub["tags"] = {"encoder": "enc " + HOSTILE, "image_model": "img " + HOSTILE, "alignment": "al " + HOSTILE,
                   HOSTILE: "tag key"}
    sub["encoder"] = {"name": "nice" + HOSTILE, "params": {"p": HOSTILE, HOSTILE: 1}}
    sub["image_model"]["params"] = {"type": HOSTILE}
    sub["recipe"]["loss"] = "infonce" + HOSTILE
    rng = np.random.default_rng(5)
    recs += [unit_record(task, sub, s, sd, 0.45 + rng.normal(0, 0.02), rng) for s in (1, 2, 3) for sd in (0, 1)]
    return recs
