"""Synthetic records for the analysis tests: a factorial design of entries with planted effects."""

from __future__ import annotations

import numpy as np

from bench.records.schema import Record

ENCODERS = ("nice", "atm-s")
IMAGE_MODELS = ("pixels-colour-texture", "random-convnet")


def task_spec(subjects, seeds, name: str = "t-demo", scheme: str = "within-subject") -> dict:
    return {"name": name, "scheme": scheme, "dataset": {"name": "things-eeg2", "subjects": list(subjects)},
            "seeds": list(seeds), "kind": "retrieval"}


def submission_spec(name: str, encoder: str, image_model: str, **tags) -> dict:
    return {"name": name, "encoder": {"name": encoder, "params": {}}, "image_model": {"name": image_model, "params": {}},
            "tags": dict(tags)}


def record(task: dict, sub: dict, subject: int, seed: int, value: float, split: str | None = None) -> Record:
    split = split or (f"sub-{subject:02d}" if task["scheme"] != "pooled" else "pooled")
    return Record(key=f"{task['name']}/{sub['name']}/{split}/{seed}", task=task["name"], submission=sub["name"],
                  split=split, subject=subject, seed=seed, status="finished", task_spec=task, submission_spec=sub,
                  metrics={"top1": float(value)},
                  provenance={"task_hash": "t" * 8, "submission_hash": sub["name"]})


def factorial_records(rng: np.random.Generator, *, n_subjects: int = 8, seeds=(0, 1), image_effect: float = 0.0,
                      encoder_effect: float = 0.0, interaction: float = 0.0, noise: float = 0.02,
                      subject_sd: float = 0.05, base: float = 0.3) -> list[Record]:
    """2 encoders x 2 image models; value = base + subject + effects + noise per (subject, seed)."""
    task = task_spec(range(1, n_subjects + 1), seeds)
    subj = rng.normal(0, subject_sd, n_subjects)
    out = []
    for i, enc in enumerate(ENCODERS):
        for j, img in enumerate(IMAGE_MODELS):
            sub = submission_spec(f"{enc}-{img}", enc, img, alignment="aligned" if j else "none")
            for s in range(n_subjects):
                for seed in seeds:
                    v = base + subj[s] + encoder_effect * i + image_effect * j + interaction * i * j
                    out.append(record(task, sub, s + 1, seed, v + rng.normal(0, noise)))
    return out


# ---- the demo design: the four demo submissions (real YAMLs) on the simulated demo task ------------------
DEMO_TASK = "things-eeg2-retrieval-200-demo"
DEMO_DESIGN = {"demo": ("demo", 0.12), "demo_atm": ("demo_atm", 0.10),
               "demo_random_convnet": ("demo_random_convnet", 0.16),
               "demo_atm_random_convnet": ("demo_atm_random_convnet", 0.15)}


def demo_design_records(seed: int = 1) -> list[Record]:
    """Records (per-item ranks, curves, chosen epochs; no training) of the 2 x 2 encoder x image-model demo
    design, with the resolved specs of the real demo task and submission YAMLs."""
    from tests.leaderboard.factory import make_board, task_spec as real_task_spec

    return make_board(DEMO_DESIGN, task=real_task_spec(DEMO_TASK, subjects=(1, 2), seeds=(0, 1)), seed=seed)


def null_records(entry: list[Record], hit_rate: float | None, rng: np.random.Generator,
                 suffix: str = "shuffled") -> list[Record]:
    """The entry's units on the derived task ``<task>-<suffix>`` (what `bench check` runs): ranks drawn at
    chance (``hit_rate`` None) or with ``hit_rate`` of the test items ranked first (planted leakage)."""
    import copy

    out = []
    for r in entry:
        n = int(r.info.get("n_gallery", 200))
        ranks = rng.integers(0, n, n)
        if hit_rate is not None:
            ranks = np.where(rng.random(n) < hit_rate, 0, np.maximum(ranks, 1))
        task = copy.deepcopy(r.task_spec)
        task["name"] = f"{r.task}-{suffix}"
        out.append(Record(key=f"{r.key}-{suffix}", task=task["name"], submission=r.submission, split=r.split,
                          subject=r.subject, seed=r.seed, status="finished", task_spec=task,
                          submission_spec=r.submission_spec, metrics={"top1": float(np.mean(ranks < 1))},
                          per_item={"rank": ranks.tolist()}, chosen_epoch=r.chosen_epoch,
                          info={"n_gallery": n}, provenance=dict(r.provenance)))
    return out
