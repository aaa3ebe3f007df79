"""Pages built from a real (small) demo evaluation, checked in headless chromium."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.leaderboard import build_site_from_mlflow
from bench.records.mlflow_store import RecordStore
from bench.runner import evaluate
from tests.leaderboard.test_leaderboard_browser import _board
from tests.runner.helpers import write_variants
from tests.stats.test_tiers import _reference_tiers

pytestmark = pytest.mark.browser


def test_demo_evaluation_pages_in_browser(tmp_path, settings, open_page):
    _, nice = write_variants(tmp_path, epochs=3, subjects=(1, 2), seeds=(0,), name="n")
    _, atm = write_variants(tmp_path, epochs=3, subjects=(1, 2), seeds=(0,), name="a", submission_base="demo_atm")
    atm.write_text(atm.read_text().replace("a-task.yaml", "n-task.yaml"))
    for sub in (nice, atm):
        assert not evaluate([str(sub)], settings=settings, progress=False).failed
    site = tmp_path / "site"
    build_site_from_mlflow(settings.tracking_uri, site, n_boot=500)

    records = RecordStore(settings.tracking_uri).records(task="n-task")
    values: dict = {}
    for r in records:
        values.setdefault(r.submission, {})[(r.subject, r.seed)] = r.metrics["top1"]
    tiers = _reference_tiers(values, [1, 2], [0], "holm")

    probe = open_page(site / "tasks" / "n-task.html")
    rows = {r["name"]: r for r in _board(probe.page)}
    assert set(rows) == {"n-sub", "a-sub"}
    for name, cells in values.items():
        subj = np.array([cells[(1, 0)], cells[(2, 0)]])
        expected = f"{100 * subj.mean():.2f} ± {100 * subj.std(ddof=1) / math.sqrt(2):.2f}"
        assert rows[name]["score"].startswith(expected), (rows[name]["score"], expected)
        assert tiers[name] is None and rows[name]["tier"] == "not tiered"   # 2 subjects: too few to tier
    assert "too few subjects to tier" in probe.page.inner_text("main")
    assert probe.problems == []
    probe = open_page(site / "index.html")
    assert "n-task" in probe.page.inner_text("main") and probe.problems == []
