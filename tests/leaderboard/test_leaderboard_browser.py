"""The built site in a real headless browser (Debian chromium via playwright), opened from file://."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.leaderboard.factory import HOSTILE
from tests.stats.test_tiers import _reference_tiers

pytestmark = pytest.mark.browser

TASK = "things-eeg2-retrieval-200"


def _expected(records):
    """Per entry, computed directly from the stored values: displayed mean ± SE and the independent tier."""
    recs = [r for r in records if r.task == TASK and r.finished]
    spec = recs[0].task_spec
    subjects, seeds = spec["dataset"]["subjects"], spec["seeds"]
    values = {}
    for r in recs:
        values.setdefault(r.submission, {})[(r.subject, r.seed)] = r.metrics["top1"]
    shown = {}
    for sub, cells in values.items():
        subj = []
        for s in subjects:
            got = [cells[(s, k)] for k in seeds if (s, k) in cells]
            if got:
                subj.append(np.mean(got))
        subj = np.array(subj)
        shown[sub] = f"{100 * subj.mean():.2f} ± {100 * subj.std(ddof=1) / math.sqrt(len(subj)):.2f}"
    return shown, _reference_tiers(values, subjects, seeds, "holm")


def _board(page):
    return page.eval_on_selector_all(
        "#board tbody tr",
        "rows => rows.map(r => ({name: r.querySelector('td.name').innerText.trim(),"
        " tier: r.querySelector('td.tier-cell').innerText.trim(),"
        " score: r.querySelector('td.score').innerText.trim()}))")


def test_task_table_shows_entries_values_and_tiers(site, board_records, open_page):
    probe = open_page(site / "tasks" / f"{TASK}.html")
    rows = _board(probe.page)
    shown, tiers = _expected(board_records)
    assert {r["name"] for r in rows} == set(shown)
    for row in rows:
        name = row["name"]
        assert row["score"].startswith(shown[name]), (name, row["score"], shown[name])
        expected_tier = f"Tier {tiers[name]}" if tiers[name] is not None else "incomplete"
        assert row["tier"] == expected_tier, (name, row["tier"], expected_tier)
    by_name = {r["name"]: r for r in rows}
    assert "(partial)" in by_name["nice_clip_partial"]["score"]
    assert by_name["nice_dreamsim"]["tier"] == "Tier 1" and by_name["atm_dreamsim"]["tier"] == "Tier 1"
    # default order: tier, then mean; the incomplete entry last although its partial mean is the highest
    assert [r["name"] for r in rows] == ["nice_dreamsim", "atm_dreamsim", "nice_clip", "eegnet_dreamsim",
                                         "nice_clip_partial"]
    text = probe.page.inner_text("main")
    assert "variant: default" in text and "Holm" in text and "0.50 %" in text     # variant, correction, chance
    assert "reported in AlignVis (Rajabi et al. 2025 (ICML)), Table 1" in text
    images = probe.page.eval_on_selector_all("main figure img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(images) == 3 and all(w > 100 for w in images)                         # plots render
    assert probe.problems == []


def test_sorting_by_column_headers(site, open_page):
    probe = open_page(site / "tasks" / f"{TASK}.html")
    page = probe.page
    names = lambda: [r["name"] for r in _board(page)]                               # noqa: E731
    scores = lambda: [float(r["score"].split(" ")[0]) for r in _board(page)]        # noqa: E731
    default = names()
    page.click("#board thead th:nth-child(2) button")                               # Submission
    assert names() == sorted(default)
    page.click("#board thead th:nth-child(2) button")
    assert names() == sorted(default, reverse=True)
    page.click("#board thead th:nth-child(3) button")                               # top-1: descending first
    assert scores() == sorted(scores(), reverse=True) and names()[0] == "nice_clip_partial"
    page.click("#board thead th:nth-child(3) button")
    assert scores() == sorted(scores())
    assert page.get_attribute("#board thead th:nth-child(3)", "aria-sort") == "ascending"
    page.click("#board thead th:nth-child(4) button")                               # Tier: incomplete stays last
    assert names()[-1] == "nice_clip_partial" and names()[0] in ("nice_dreamsim", "atm_dreamsim")
    assert probe.problems == []


def test_every_page_loads_without_console_errors(site, open_page):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 2 + 7 + 3
    for path in pages:
        probe = open_page(path)
        broken = probe.page.eval_on_selector_all("img", "imgs => imgs.filter(i => !i.complete || i.naturalWidth == 0)"
                                                        ".map(i => i.getAttribute('src'))")
        assert broken == [], (path, broken)
        assert probe.problems == [], (path, probe.problems)
        probe.close()


def test_navigation_index_to_task_to_submission(site, open_page):
    probe = open_page(site / "index.html")
    page = probe.page
    from bench import HARNESS_VERSION

    assert f"brainvis-bench {HARNESS_VERSION}" in page.inner_text("main")
    page.click(f"text={TASK}")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"tasks/{TASK}.html")
    page.click("#board >> text=atm_dreamsim")
    page.wait_for_load_state("load")
    assert page.url.endswith("submissions/atm_dreamsim.html")
    assert page.inner_text("h1") == "atm_dreamsim"
    assert "Per subject" in page.inner_text("main") and "name: atm_dreamsim" in page.inner_text("pre.yaml")
    assert probe.problems == []


@pytest.mark.parametrize("which", ["task", "submission", "index"])
def test_hostile_text_renders_escaped_and_runs_nothing(hostile_site, open_page, which):
    path = {"task": hostile_site / "tasks" / f"{TASK}.html", "index": hostile_site / "index.html",
            "submission": next(p for p in (hostile_site / "submissions").glob("*.html") if "script" in p.name)}[which]
    probe = open_page(path)
    page = probe.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], main script, b').length") == 0
    assert page.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))") in (
        ["assets/sort.js"], ["../assets/sort.js"])
    text = page.inner_text("main")
    assert HOSTILE in text                                                          # the literal text is visible
    if which == "submission":
        assert page.inner_text("h1") == HOSTILE
        for field in ("description " + HOSTILE, "author " + HOSTILE, "<b>bold</b> & co", "enc " + HOSTILE,
                      "al " + HOSTILE, "img " + HOSTILE, "nice" + HOSTILE, "infonce<script>"):
            assert field in text, field
        assert HOSTILE in page.inner_text("pre.yaml")
    if which == "task":
        names = [r["name"] for r in _board(page)]
        assert HOSTILE in names
    assert probe.problems == []
