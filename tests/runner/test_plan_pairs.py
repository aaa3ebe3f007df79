"""Several submissions in one `bench evaluate`: each runs its own tasks unless tasks are named."""

from __future__ import annotations

from bench.execution import plan
from tests.runner.helpers import ROOT


def _plan(subs: list[str], tasks: list[str] | None = None) -> set[tuple[str, str]]:
    _, _, units = plan([str(ROOT / "submissions" / s) for s in subs], tasks)
    return {(u.task.name, u.submission.name) for u in units}


def test_each_submission_runs_only_its_own_tasks():
    planned = _plan(["demo_meg.yaml", "demo_nsd.yaml"])
    # an MEG encoder is never planned on the fMRI task (it cannot read vectors), nor the reverse
    assert planned == {("things-meg-retrieval-200-demo", "demo_meg"), ("nsd-retrieval-demo", "demo_nsd")}


def test_named_tasks_run_for_every_submission():
    planned = _plan(["demo.yaml", "demo_alignvis.yaml"], ["things-eeg2-retrieval-200-demo"])
    assert planned == {("things-eeg2-retrieval-200-demo", "demo"), ("things-eeg2-retrieval-200-demo", "demo_alignvis")}
