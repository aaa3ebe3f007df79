"""`bench compare` infers the task when every submission names exactly one common task."""

from __future__ import annotations

import json

from bench.errors import ConfigError
from bench.records.snapshot import export_snapshot
from tests.records.factory import make_records
from tests.runner.helpers import ROOT


def _submission(tmp_path, name: str, tasks: list[str]):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: {name}\ntasks: {tasks}\n")
    return path


def test_compare_infers_the_common_task(invoke, tmp_path):
    snap = export_snapshot(make_records({"sub-a": 0.4, "sub-b": 0.2}, task="toy-task"), tmp_path / "snap.json")
    a = _submission(tmp_path, "sub-a", ["toy-task", "other-task"])
    b = _submission(tmp_path, "sub-b", ["toy-task"])
    common = ("--snapshot", snap, "--bootstrap", "200", "--format", "json")
    inferred = invoke("compare", a, b, *common)
    assert inferred.exit_code == 0, inferred.output
    explicit = invoke("compare", a, b, "--task", "toy-task", *common)
    rows = json.loads(inferred.stdout)
    assert rows == json.loads(explicit.stdout)
    assert rows[0]["task"] == "toy-task" and {rows[0]["a"], rows[0]["b"]} == {"sub-a", "sub-b"}


def test_compare_asks_for_the_task_when_ambiguous(invoke, tmp_path):
    a = _submission(tmp_path, "sub-a", ["t1", "t2"])
    b = _submission(tmp_path, "sub-b", ["t2", "t1"])
    res = invoke("compare", a, b)
    assert isinstance(res.exception, ConfigError)
    assert "2 tasks in common (t1, t2)" in str(res.exception) and "--task" in str(res.exception)
