"""Errors written for the person who hits them: what is wrong, where (file, field), how to fix."""

from __future__ import annotations

from pathlib import Path


class BenchError(Exception):
    """Base class of every error the harness raises on purpose.

    The message always has three parts: what is wrong, where (file and field when known), and the
    fix. The CLI prints these without a traceback.
    """

    def __init__(self, what: str, *, where: str | Path | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.what = what
        self.where = str(where) if where is not None else None
        self.field = field
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}:")
        if self.field:
            parts.append(f"field '{self.field}':")
        parts.append(self.what)
        msg = " ".join(parts)
        if self.fix:
            msg += f"\n  fix: {self.fix}"
        return msg


class ConfigError(BenchError):
    """A task or submission file is malformed, inconsistent or names something unknown."""


class DataError(BenchError):
    """A dataset file is missing, unsafe, has the wrong keys/shape, or holds NaN/Inf."""


class WeightsMissingError(BenchError):
    """A model needs local weights that are not there. Says which file, where we looked, how to get it."""


class RegistryError(BenchError):
    """An unknown plug-in name; the message lists the known ones."""


class RecordError(BenchError):
    """The record store (MLflow / snapshot) is unreadable or inconsistent."""
