"""`bench --version`, `bench list ...` and clean usage lines."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from bench.errors import ConfigError
from tests.runner.helpers import ROOT


def test_version(invoke):
    import bench

    res = invoke("--version")
    assert res.exit_code == 0
    assert res.stdout.strip() == f"brainvis-bench {bench.__version__}"
    assert bench.__version__ == version("brainvis-bench")


def _listed(invoke, what: str) -> list[dict]:
    res = invoke("list", what, "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_list_tasks_and_submissions_match_the_files(invoke):
    from bench.config import load_submission, load_task

    for what, folder, load in (("tasks", "tasks", load_task), ("submissions", "submissions", load_submission)):
        rows = {r["name"]: r for r in _listed(invoke, what)}
        specs = [load(p).spec for p in (ROOT / folder).glob("*.yaml")]
        expected = {spec.name: spec.description for spec in specs}
        assert expected.keys() <= rows.keys()
        for name, description in expected.items():
            assert rows[name]["description"] == description.strip().splitlines()[0]
    table = invoke("list", "tasks").stdout.splitlines()
    assert any(line.split()[0] == "things-eeg2-retrieval-200-demo" and "simulated" in line for line in table)


@pytest.mark.parametrize("what, registry", [("encoders", "bench.encoders:ENCODERS"),
                                            ("image-models", "bench.images:IMAGE_MODELS")])
def test_list_plugins_match_the_registries(invoke, what, registry):
    import importlib

    module, attr = registry.split(":")
    reg = getattr(importlib.import_module(module), attr)
    rows = _listed(invoke, what)
    assert [r["name"] for r in rows] == reg.names()
    doc = reg.get(rows[0]["name"]).__doc__.strip().splitlines()[0]
    assert rows[0]["description"] == doc.strip()


def test_list_metrics(invoke):
    from bench.metrics import METRICS

    rows = {r["name"]: r for r in _listed(invoke, "metrics")}
    assert set(rows) == set(METRICS.names())
    assert rows["top1"]["description"] == METRICS.get("top1").description
    assert rows["alexnet2"]["chance"] == 0.5


def test_list_unknown_kind(invoke):
    res = invoke("list", "datasets")
    assert isinstance(res.exception, ConfigError)
    assert "tasks, submissions, encoders, image-models, metrics" in str(res.exception)


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


def test_usage_lines_are_clean(invoke):
    import typer.main

    from bench.cli import app

    paths = list(_commands(typer.main.get_command(app)))
    assert ("list",) in paths and ("evaluate",) in paths
    for path in paths:
        res = invoke(*path, "--help")
        assert res.exit_code == 0, path
        for bad in ("{", "<list[", "<bool>"):
            assert bad not in res.stdout, (path, bad, res.stdout)
    usage = invoke("evaluate", "--help").stdout
    assert "Usage: bench evaluate [OPTIONS] SUBMISSION..." in usage
    assert "--task" in usage and "TASK" in usage and "--output" in usage
    assert "Usage: bench validate [OPTIONS] FILES..." in invoke("validate", "--help").stdout
    compare = invoke("compare", "--help").stdout
    assert "Usage: bench compare [OPTIONS] SUBMISSIONS..." in compare and "submissions..." not in compare
    assert "Usage: bench list [OPTIONS] WHAT" in invoke("list", "--help").stdout
