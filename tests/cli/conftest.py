"""Helpers for CLI tests: the real Typer app in-process, and small task/submission files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.runner.helpers import ROOT


@pytest.fixture
def invoke():
    """Run ``bench ARGS`` in-process through the assembled Typer app (``bench.cli.app``)."""
    from bench.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], prog_name="bench")

    return run


@pytest.fixture
def micro_submission(tmp_path) -> Path:
    """A one-unit submission on a micro simulated THINGS-EEG2 (one subject, one seed; seconds to write)."""
    task = tmp_path / "micro-task.yaml"
    task.write_text(f"extends: {ROOT / 'tasks' / 'things-eeg2-retrieval-200-demo.yaml'}\nname: micro-task\n"
                    "dataset: {subjects: [1], simulation: {size: micro, n_subjects: 1}}\nseeds: [0]\n")
    sub = tmp_path / "micro-sub.yaml"
    sub.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: micro-sub\ntasks: [{task}]\n"
                   "recipe: {epochs: 1}\n")
    return sub
