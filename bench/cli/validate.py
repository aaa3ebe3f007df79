"""``bench validate FILE...``: check task and submission files."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from bench.errors import BenchError


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(files: List[Path] = typer.Argument(..., help="task or submission YAML files")) -> None:
        """Check task and submission files (schema, extends, protocol, plug-in names); print their hashes."""
        from bench.validate import validate_file

        bad = 0
        for path in files:
            try:
                loaded = validate_file(path)
            except BenchError as exc:
                bad += 1
                typer.secho(f"FAIL {exc}", fg=typer.colors.RED, err=True)
                continue
            typer.echo(f"ok   {path}  ({type(loaded.spec).__name__.removesuffix('Spec').lower()} "
                       f"'{loaded.name}', hash {loaded.hash})")
        if bad:
            raise typer.Exit(code=1)
