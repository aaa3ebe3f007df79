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
