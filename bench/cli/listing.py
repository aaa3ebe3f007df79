"""``bench list tasks|submissions|encoders|image-models|metrics``: what can be named, with one line each."""

from __future__ import annotations

import json
from typing import Callable

import typer

KINDS = ("tasks", "submissions", "encoders", "image-models", "metrics")


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(
        what: str = typer.Argument(..., metavar="WHAT", help=f"one of: {', '.join(KINDS)}"),
        fmt: str = typer.Option("table", "--format", metavar="table|json", help="plain lines or a JSON list"),
    ) -> None:
        """List the tasks, submissions, brain encoders, image models or metrics that configs can name."""
        from bench.errors import ConfigError

        if what not in LISTERS:
            raise ConfigError(f"cannot list '{what}'", fix=f"use one of: {', '.join(KINDS)}")
        if fmt not in ("table", "json"):
            raise ConfigError(f"unknown format '{fmt}'", field="--format", fix="use table or json")
        rows = LISTERS[what]()
        if fmt == "json":
            typer.echo(json.dumps(rows, indent=1))
            return
        width = max((len(r["name"]) for r in rows), default=0)
        for r in rows:
            typer.echo(f"{r['name']:<{width}}  {r['description']}".rstrip())


def _first_line(text: str | None) -> str:
    """The first sentence-line of a docstring or description."""
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _config_files(kind: str) -> list[dict]:
    """Task or submission YAML files in the search folders (``tasks/``, ``submissions/``)."""
    from bench.config import load_submission, load_task, search_dirs
    from bench.errors import BenchError

    load = load_task if kind == "task" else load_submission
    rows: dict[str, dict] = {}
    for folder in search_dirs(kind):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if path.stem in rows:
                continue
            try:
                spec = load(path).spec
            except BenchError as exc:
                rows[path.stem] = {"name": path.stem, "description": f"(invalid: {_first_line(str(exc))})",
                                   "path": str(path)}
                continue
            row = {"name": spec.name, "description": _first_line(spec.description), "path": str(path)}
            if kind == "task":
                row.update(kind=spec.kind, dataset=spec.dataset.name, source=spec.dataset.source)
            else:
                row.update(tasks=list(spec.tasks), encoder=spec.encoder.name, image_model=spec.image_model.name)
            rows[path.stem] = row
    return sorted(rows.values(), key=lambda r: r["name"])


def _plugins(registry_path: str) -> Callable[[], list[dict]]:
    def rows() -> list[dict]:
        import importlib

        module, attr = registry_path.split(":")
        registry = getattr(importlib.import_module(module), attr)
        return [{"name": name, "description": _first_line(obj.__doc__)} for name, obj in registry.items()]

    return rows


def _metrics() -> list[dict]:
    from bench.metrics import METRICS

    return [{"name": name, "description": info.description, "higher_is_better": info.higher_is_better,
             "chance": info.chance} for name, info in METRICS.items()]


LISTERS: dict[str, Callable[[], list[dict]]] = {
    "tasks": lambda: _config_files("task"),
    "submissions": lambda: _config_files("submission"),
    "encoders": _plugins("bench.encoders:ENCODERS"),
    "image-models": _plugins("bench.images:IMAGE_MODELS"),
    "metrics": _metrics,
}
