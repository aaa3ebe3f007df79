"""Synthetic records for tests of statistics, stores and pages (no training involved)."""

from __future__ import annotations

import numpy as np

from bench.records.keys import unit_key
from bench.records.schema import Record


def task_spec(name: str = "toy-task", subjects=(1, 2, 3, 4), seeds=(0, 1, 2)) -> dict:
    return {"name": name, "version": 1, "kind": "retrieval", "variant": "default", "scheme": "within-subject",
            "dataset": {"name": "things-eeg2", "variant": "250hz", "subjects": list(subjects)},
            "seeds": list(seeds), "protocol": {"top_k": [1, 5], "k_way": [2, 4, 10]}, "headline_metric": "top1"}


def make_records(effects: dict[str, float], *, task: str = "toy-task", subjects=(1, 2, 3, 4), seeds=(0, 1, 2),
                 noise: float = 0.02, seed: int = 0, n_items: int = 20, drop: set | None = None) -> list[Record]:
    """Records for submissions with true mean top-1 ``effects[name]``; subject offsets are shared
    across submissions (so paired tests have power). ``drop`` holds (submission, subject, seed) to omit."""
    rng = np.random.default_rng(seed)
    subject_offset = {s: rng.normal(0, 0.05) for s in subjects}
    spec = task_spec(task, subjects, seeds)
    out = []
    for sub, effect in effects.items():
        for s in subjects:
            for sd in seeds:
                if drop and (sub, s, sd) in drop:
                    continue
                top1 = float(np.clip(effect + subject_offset[s] + rng.normal(0, noise), 0, 1))
                ranks = rng.geometric(max(top1, 0.05), size=n_items) - 1
                key = unit_key(task_hash=task, submission_hash=sub, split=f"sub-{s:02d}", seed=sd,
                               data_checksum="d", weights_checksum="w")
                out.append(Record(
                    key=key, task=task, submission=sub, split=f"sub-{s:02d}", subject=s, seed=sd, status="finished",
                    task_spec=spec, submission_spec={"name": sub, "encoder": {"name": "nice", "params": {}},
                                                     "image_model": {"name": "m", "params": {}}, "tasks": [task]},
                    metrics={"top1": top1, "top5": min(1.0, top1 * 2.5), "kway/2/top1": min(1.0, 0.5 + top1)},
                    per_item={"item_id": [f"img{i}" for i in range(n_items)], "rank": ranks.tolist()},
                    curves={"train_loss": [3.0, 2.5, 2.2], "val_loss": [3.1, 2.8, 2.9], "val_top1": [0.1, 0.2, 0.18]},
                    chosen_epoch=2, provenance={"harness_version": "test", "data_checksum": "d"},
                    info={"n_gallery": n_items}))
    return out
