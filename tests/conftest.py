"""Shared test setup: offline hubs, isolated settings, small thread counts."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest

# End-to-end tests (units trained and scored through the real pipeline, multi-process or server runs,
# whole leaderboard sites built and read in a real browser, downloads from local HTTP servers, full
# image-model architectures built at random init) are marked `integration`, so the fast inner loop
# `pytest -m "not integration and not slow"` stays under 2 minutes on 2 cores. The default suite
# (CI) runs them all. A test elsewhere can mark itself the same way.
INTEGRATION = ("tasks/", "runner/test_evaluate.py", "runner/test_submissions.py", "runner/test_claims.py",
               "tuning/test_study.py", "scaleout/", "download/",
               "leaderboard/test_demo_pages.py", "leaderboard/test_leaderboard_browser.py",
               "leaderboard/test_phone_pages.py", "leaderboard/test_analysis_pages.py",
               "leaderboard/test_verdict_pages.py", "leaderboard/test_leaderboard_site.py",
               "leaderboard/test_leaderboard_sources.py",
               "images/test_dreamsim_model.py", "images/test_open_clip_model.py", "metrics/test_features.py")


def pytest_collection_modifyitems(config, items):
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for item in items:
        try:
            rel = Path(str(item.fspath)).resolve().relative_to(here).as_posix()
        except ValueError:
            continue
        if rel.startswith(INTEGRATION):
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory):
    """An initialised, empty MLflow SQLite store (creating one runs ~6 s of migrations; copying is instant)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # runs the schema migrations only
    return path


@pytest.fixture
def tracking_uri(tmp_path, _mlflow_template):
    """A fresh MLflow SQLite tracking URI for this test (artifacts beside it)."""
    import shutil

    db = tmp_path / "mlflow.db"
    shutil.copy(_mlflow_template, db)
    return f"sqlite:///{db}"


@pytest.fixture
def settings(tmp_path, tracking_uri):
    """Settings pointing every location into this test's tmp folder."""
    from bench.settings import load_settings

    return load_settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights",
                         tracking_uri=tracking_uri, device="cpu")
