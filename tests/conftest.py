"""Shared test setup: offline hubs, isolated settings, small thread counts."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No test reads the user's settings file, caches or the working directory's mlflow.db."""
    home = tmp_path_factory.mktemp("bench-home")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(home / "weights"))
    monkeypatch.setenv("BENCH_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    monkeypatch.delenv("BENCH_SETTINGS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    yield


@pytest.fixture
def settings(tmp_path):
    """Settings pointing every location into this test's tmp folder."""
    from bench.settings import load_settings

    return load_settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights",
                         tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", device="cpu")
