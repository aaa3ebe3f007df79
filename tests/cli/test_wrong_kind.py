"""A task file (or task name) given where a submission belongs is recognised, with the right command."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from tests.runner.helpers import ROOT, bench_cmd

TASK = ROOT / "tasks" / "things-eeg2-retrieval-200-demo.yaml"


def test_evaluate_a_task_file_says_what_to_run():
    proc = bench_cmd("evaluate", str(TASK), check=False, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr
    assert "this is a task file, not a submission (task 'things-eeg2-retrieval-200-demo')" in err
    assert "run `bench evaluate <submission> --task things-eeg2-retrieval-200-demo`" in err
    assert "submissions naming it: demo, demo_atm" in err
    assert "add 'encoder'" not in err and "remove 'version'" not in err   # no schema advice that would break it
    assert "Traceback" not in err


def test_evaluate_a_task_name_is_recognised_too(invoke):
    res = invoke("evaluate", "things-eeg2-retrieval-200-demo", "--dry-run")
    assert isinstance(res.exception, ConfigError)
    assert "this is a task file" in str(res.exception)


def test_compare_a_task_file(invoke):
    res = invoke("compare", TASK, ROOT / "submissions" / "demo.yaml")
    assert isinstance(res.exception, ConfigError)
    assert "bench compare <submission> <submission> --task things-eeg2-retrieval-200-demo" in str(res.exception)


def test_a_submission_is_left_alone():
    from bench.cli.common import check_submission_refs

    check_submission_refs([ROOT / "submissions" / "demo.yaml", "demo_atm"])   # no error
    with pytest.raises(ConfigError, match="this is a task file"):
        check_submission_refs([ROOT / "submissions" / "demo.yaml", TASK])
