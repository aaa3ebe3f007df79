"""Options shared by several commands, described once (MNE style) and turned into Settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from bench.settings import Settings, load_settings

TrackingUri = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: sqlite:///./mlflow.db)")
DataRoot = typer.Option(None, "--data-root", help="folder holding one sub-folder per real dataset")
CacheDir = typer.Option(None, "--cache-dir", help="embedding cache and simulated data")
WeightsDir = typer.Option(None, "--weights-dir", help="local model weights")
Device = typer.Option(None, "--device", help="cpu, cuda or auto")
Snapshot = typer.Option(None, "--snapshot", help="read records from a results snapshot JSON instead of MLflow")


def make_settings(tracking_uri: Optional[str] = None, data_root: Optional[Path] = None,
                  cache_dir: Optional[Path] = None, weights_dir: Optional[Path] = None,
                  device: Optional[str] = None) -> Settings:
    return load_settings(tracking_uri=tracking_uri, data_root=data_root, cache_dir=cache_dir,
                         weights_dir=weights_dir, device=device)


def load_records(settings: Settings, snapshot: Optional[Path], task: Optional[str] = None):
    """Records from a snapshot file or the MLflow store, optionally for one task."""
    if snapshot is not None:
        from bench.records.snapshot import import_snapshot

        records = import_snapshot(snapshot)
        return [r for r in records if task is None or r.task == task]
    from bench.records.mlflow_store import RecordStore

    return RecordStore(settings.tracking_uri).records(task=task)


MULTI_VALUE_OPTIONS = ("--subjects", "--seeds", "--task")


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Let ``--subjects 1 2 --seeds 0 1`` mean ``--subjects 1 --subjects 2 --seeds 0 --seeds 1``.

    Extra values are digits for --subjects/--seeds and names (not YAML paths) for --task.
    """
    out: list[str] = []
    current: str | None = None
    count = 0
    for token in argv:
        if token in MULTI_VALUE_OPTIONS:
            current, count = token, 0
            out.append(token)
            continue
        if current is not None and not token.startswith("-"):
            is_value = token.isdigit() if current != "--task" else not token.endswith((".yaml", ".yml"))
            if count == 0:
                out.append(token)
                count += 1
                continue
            if is_value:
                out += [current, token]
                continue
        current = None
        out.append(token)
    return out
