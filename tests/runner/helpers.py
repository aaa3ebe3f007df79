"""Small task/submission variants of the embedded default, written to a tmp folder for fast tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def write_variants(tmp: Path, *, epochs: int = 4, subjects=(1,), seeds=(0,), task_base="things-eeg2-retrieval-200-demo",
                   submission_base="demo", name="fast") -> tuple[Path, Path]:
    """A task extending ``task_base`` with fewer subjects/seeds, and a submission with fewer epochs."""
    task = tmp / f"{name}-task.yaml"
    task.write_text(f"extends: {ROOT / 'tasks' / (task_base + '.yaml')}\nname: {name}-task\n"
                    f"dataset: {{subjects: {list(subjects)}}}\nseeds: {list(seeds)}\n")
    sub = tmp / f"{name}-sub.yaml"
    sub.write_text(f"extends: {ROOT / 'submissions' / (submission_base + '.yaml')}\nname: {name}-sub\n"
                   f"tasks: [{task}]\nrecipe: {{epochs: {epochs}}}\n")
    return task, sub


def bench_cmd(*args: str, env: dict | None = None, timeout: float = 600, check: bool = True
              ) -> subprocess.CompletedProcess:
    """Run the real ``bench`` console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
