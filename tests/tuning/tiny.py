"""A tiny real plan for tests that train units (tuning, Ray, MLflow server).

The demo task and submission, shrunk: one simulated subject, a 0.4 s window, a small brain-MLP
encoder and two epochs, so one unit trains in seconds on two CPU cores. The simulated dataset is
written once per test session under the session's base temp folder and shared (it is read-only
for units; a test that hides files from it must put them back).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO_TASK = ROOT / "tasks" / "things-eeg2-retrieval-200-demo.yaml"
DEMO_SUBMISSION = ROOT / "submissions" / "demo.yaml"


@dataclass(frozen=True)
class TinyPlan:
    task: Path
    submission: Path
    cache_dir: Path

    def settings(self, tracking_uri: str, **changes):
        from bench.settings import load_settings

        return load_settings(cache_dir=self.cache_dir, weights_dir=self.cache_dir / "weights",
                             tracking_uri=tracking_uri, device="cpu", **changes)

    def dataset_root(self) -> Path:
        from bench.config import load_task
        from bench.data.locate import dataset_root

        return dataset_root(load_task(self.task).spec.dataset, self.settings("sqlite:///unused.db"))


def write_tiny_plan(folder: Path, cache_dir: Path, *, seeds=(0,), epochs: int = 2, name: str = "tiny") -> TinyPlan:
    """Write ``task.yaml`` and ``submission.yaml`` into ``folder`` (both ``extends:`` the demo files)."""
    folder.mkdir(parents=True, exist_ok=True)
    task = {"extends": str(DEMO_TASK), "name": f"{name}-task",
            "description": "demo task shrunk for tests (1 simulated subject, 0.4 s window)",
            "dataset": {"simulation": {"n_subjects": 1}, "subjects": [1], "time_window": [0.0, 0.4]},
            "seeds": list(seeds)}
    sub = {"extends": str(DEMO_SUBMISSION), "name": name,
           "encoder": {"name": "brain-mlp", "params": {"hidden": 64, "n_blocks": 1}},
           "recipe": {"epochs": epochs, "batch_size": 64}}
    (folder / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    (folder / "submission.yaml").write_text(yaml.safe_dump(sub, sort_keys=False))
    return TinyPlan(folder / "task.yaml", folder / "submission.yaml", cache_dir)


def shared_cache(tmp_path_factory) -> Path:
    """One cache folder per test session (simulated data + embeddings), simulated on first use."""
    cache = tmp_path_factory.getbasetemp() / "tiny-plan-cache"
    plan = write_tiny_plan(tmp_path_factory.getbasetemp() / "tiny-plan-specs", cache)
    plan.dataset_root()  # writes the simulation once (locked; later calls return at once)
    return cache
