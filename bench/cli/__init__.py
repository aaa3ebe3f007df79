"""The ``bench`` command: a thin shell over the Python API.

Each command group lives in its own module with a ``register(app)`` function; this module only
assembles them and turns :class:`bench.errors.BenchError` into a clean message and exit code 2.
"""

from __future__ import annotations

import os
import sys

# No hub lookups at run time: weights come from local files only (see README, "Weights").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import typer

from bench.errors import BenchError

app = typer.Typer(help="brainvis-bench: benchmark visual decoding from brain signals.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

_COMMAND_MODULES = ("validate", "data", "embed", "evaluate", "results", "leaderboard", "tune")


def _assemble() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"bench.cli.{name}").register(app)


_assemble()


def main() -> None:
    """Console-script entry point."""
    from bench.cli.common import expand_multi_value_options

    try:
        app(args=expand_multi_value_options(sys.argv[1:]), prog_name="bench")
    except BenchError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
