"""One place for paths and locations: data root, caches, weights, tracking URI.

Resolution order for every setting (first wins): explicit argument (CLI flag / Python call) >
environment variable ``BENCH_<NAME>`` > settings file (``BENCH_SETTINGS`` or ``./bench.yaml`` or
``~/.config/brainvis-bench/settings.yaml``) > default. No module reads environment variables or
hard-coded paths on its own; they all receive a :class:`Settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from bench.errors import ConfigError

_DEFAULT_HOME = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "brainvis-bench"


@dataclass(frozen=True)
class Settings:
    """Where things live. Frozen: pass a changed copy (``settings.with_(...)``) instead of mutating.

    data_root:     folder holding one sub-folder per dataset (``things-eeg2/``, ``things-meg/``, ...).
                   Real data go here; simulated data are written under ``cache_dir/simulated``.
    cache_dir:     embedding cache, simulated datasets, checksum sidecars.
    weights_dir:   local model weights (open_clip / timm / dreamsim / torchvision files).
    tracking_uri:  MLflow tracking URI; default is a SQLite file in the working directory.
    device:        "cpu", "cuda", or "auto" (cuda when available).
    claim_lease_s: seconds a unit claim (and a running run's heartbeat) stays live without a refresh;
                   heartbeats come every quarter lease. Workers of one store should agree on it.
    mirror:        base URL of a download mirror (``<mirror>/<host>/<path>``) for ``bench data|weights
                   download`` (``BENCH_MIRROR``); None: the publishers' own hosts.
    """

    data_root: Path | None = None
    cache_dir: Path = _DEFAULT_HOME
    weights_dir: Path = _DEFAULT_HOME / "weights"
    tracking_uri: str = field(default_factory=lambda: f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    device: str = "auto"
    num_threads: int | None = None
    claim_lease_s: float = 120.0
    mirror: str | None = None

    def with_(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied; ``None`` values are ignored (unset CLI flags)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        for k in ("data_root", "cache_dir", "weights_dir"):
            if k in changes:
                changes[k] = Path(changes[k]).expanduser()
        return replace(self, **changes)

    @property
    def simulated_root(self) -> Path:
        return self.cache_dir / "simulated"

    @property
    def embedding_cache(self) -> Path:
        return self.cache_dir / "embeddings"

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def _settings_file() -> Path | None:
    explicit = os.environ.get("BENCH_SETTINGS")
    if explicit:
        return Path(explicit)
    for candidate in (Path.cwd() / "bench.yaml", Path.home() / ".config" / "brainvis-bench" / "settings.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build the Settings for this process: defaults < settings file < env vars < ``overrides``."""
    values: dict[str, Any] = {}
    path = _settings_file()
    known = {f.name for f in fields(Settings)}
    if path is not None:
        if not path.is_file():
            raise ConfigError("settings file not found", where=path,
                              fix="create it or unset BENCH_SETTINGS")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", where=path, fix="correct the YAML syntax") from exc
        if not isinstance(loaded, dict):
            raise ConfigError("expected a mapping of setting: value", where=path,
                              fix=f"use keys among {sorted(known)}")
        for key, value in loaded.items():
            if key not in known:
                raise ConfigError(f"unknown setting '{key}'", where=path, field=key,
                                  fix=f"use one of {sorted(known)}")
            values[key] = value
    for name in known:
        env = os.environ.get(f"BENCH_{name.upper()}")
        if env:
            try:
                values[name] = int(env) if name == "num_threads" else float(env) if name == "claim_lease_s" else env
            except ValueError:
                raise ConfigError(f"BENCH_{name.upper()}={env!r} is not a number", field=f"BENCH_{name.upper()}",
                                  fix="give a number (or unset the variable)") from None
    return Settings().with_(**values).with_(**overrides)
