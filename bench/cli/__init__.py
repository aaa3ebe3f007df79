"""The ``bench`` command: a thin shell over the Python API.

Each command group lives in its own module with a ``register(app)`` function; this module only
assembles them and turns :class:`bench.errors.BenchError` into a clean message and exit code 2.
"""

from __future__ import annotations

import logging
import os
import sys

# No hub lookups at run time: weights come from local files only (see README, "Weights").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import typer

from bench.errors import BenchError

app = typer.Typer(help="brainvis-bench: benchmark visual decoding from brain signals.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

_COMMAND_MODULES = ("validate", "data", "embed", "evaluate", "results", "leaderboard", "tune", "listing", "download", "store",
                    "analyze")


def _show_version(value: bool) -> None:
    if value:
        from bench import __version__

        typer.echo(f"brainvis-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """brainvis-bench: benchmark visual decoding from brain signals."""
    _log_to_stderr()


class _EchoHandler(logging.Handler):
    """Library messages (``bench.*`` loggers, INFO and up) as plain lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=True)


def _log_to_stderr() -> None:
    logger = logging.getLogger("bench")
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())
    logger.setLevel(logging.INFO)


def _assemble() -> None:
    import importlib

    from bench.cli.common import tidy_help

    tidy_help()
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
