"""Pages show the verdict's design, test, power, conflicts and data caveats (issue #11), built from records."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from bench.leaderboard import build_site
from bench.records.schema import Record
from bench.stats import compute_tiers
from tests.leaderboard.conftest import BUILT
from tests.leaderboard.factory import make_board, task_spec
from tests.stats.test_verdicts import A, B, _constant_board, pooled, within

REAL = "things-eeg2-retrieval-200"


def _records() -> list[Record]:
    real = make_board({"a": ("nice_dreamsim", 0.5), "b": ("atm_dreamsim", 0.3)},
                      task=task_spec(subjects=(1, 2, 3, 4), seeds=(0, 1)), seed=4)
    stale = Record.from_dict({**real[0].to_dict(), "key": "stale-key", "metrics": {**real[0].metrics, "top1": 0.9}})
    rng = np.random.default_rng(0)
    pool = pooled({"good": (0.60 + rng.normal(0, 0.02, 5)).tolist(),
                   "chance": (0.025 + rng.normal(0, 0.005, 5)).tolist()})
    a, b = _constant_board()
    const = within({A: a, B: b}, task="constant-task")
    two = within({A: {(1, 0): 0.83, (2, 0): 0.61}, B: {(1, 0): 0.63, (2, 0): 0.62}}, task="two-task")
    units = {("c", s, k) for s in (1, 2, 3, 4) for k in (0, 1)}
    failed = make_board({"c": ("nice_clip", 0.4)}, task=task_spec(subjects=(1, 2, 3, 4), seeds=(0, 1)), seed=5,
                        failed=units)
    for r in failed:
        r.error = "DataError: THINGS-EEG2 root folder not found\n  fix: bench data download things-eeg2"
    return real + [stale] + pool + const + two + failed


@pytest.fixture(scope="module")
def verdict_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("verdicts") / "site"
    build_site(_records(), out, built=BUILT, n_boot=300)
    return out


def _text(path) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", path.read_text())))


def test_pooled_task_page_pairs_over_seeds_and_separates(verdict_site):
    text = _text(verdict_site / "tasks" / "pooled-task.html")
    assert "one pooled split, so entries are paired over matched seeds" in text
    assert "Tier 1" in text and "Tier 2" in text
    assert re.search(r"With 5 seeds, a two-sided paired t-test at α = 0.05 .* 80% power", text)
    assert "MVNN" not in text                                            # caveats belong to THINGS-EEG2 only


def test_constant_difference_page_names_the_exact_test(verdict_site):
    text = _text(verdict_site / "tasks" / "constant-task.html")
    assert "exact sign-flip (constant difference)" in text and "0.0020" in text     # p = 2/2^10
    data = json.loads((verdict_site / "leaderboard.json").read_text())
    task = next(t for t in data["tasks"] if t["task"] == "constant-task")
    assert {e["submission"]: e["tier"] for e in task["entries"]} == {A: 1, B: 2}


def test_two_subjects_are_not_tiered_and_the_page_says_why(verdict_site):
    text = _text(verdict_site / "tasks" / "two-task.html")
    assert "too few subjects to tier" in text and "needs |t| > 12.7" in text and "not tiered" in text
    assert "Tier 1" not in text
    index = _text(verdict_site / "index.html")
    assert "Not tiered: too few subjects to tier" in index


def test_conflicts_are_flagged_with_the_fix_and_excluded(verdict_site):
    text = _text(verdict_site / "tasks" / f"{REAL}.html")
    assert re.search(r"Conflicts\s+a: 1 unit\(s\) with conflicting records excluded \(sub-01/seed0\)", text)
    assert "bench store prune" in text and "bench evaluate" in text
    sub = _text(verdict_site / "submissions" / "a.html")
    assert "Conflicting units" in sub and "2 finished records with different keys" in sub and "bench store prune" in sub
    data = json.loads((verdict_site / "leaderboard.json").read_text())
    task = next(t for t in data["tasks"] if t["task"] == REAL)
    entries = {e["submission"]: e for e in task["entries"]}
    assert entries["a"]["tier"] is None and entries["a"]["conflicts"][0]["keys"][1] == "stale-key"
    assert entries["b"]["tier"] is None or entries["b"]["tier"] == 1


def test_things_eeg2_pages_state_the_mvnn_caveat(verdict_site):
    text = _text(verdict_site / "tasks" / f"{REAL}.html")
    assert re.search(r"Data caveats\s+The official preprocessing .*MVNN.*test data", text)


def test_method_page_documents_the_decision_procedure(verdict_site):
    text = _text(verdict_site / "about.html")
    for phrase in ("The decision procedure", "pair over matched seeds", "exact sign-flip permutation test",
                   "p = 2/2 n", "minimum detectable difference", "Below a declared minimum of 4", "BCa",
                   "Step-down comparisons with the leader", "Holm", "contiguous", "bench store prune", "MVNN"):
        assert phrase in text, phrase


def test_summary_json_is_strict_and_tiers_are_monotone(verdict_site):
    raw = (verdict_site / "leaderboard.json").read_text()
    data = json.loads(raw, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    pool = next(t for t in data["tasks"] if t["task"] == "pooled-task")
    assert pool["design"] == {"scheme": "pooled", "paired_over": "seeds"} and "80% power" in pool["power"]
    two = next(t for t in data["tasks"] if t["task"] == "two-task")
    assert two["tiers_withheld"].startswith("too few subjects to tier") and two["min_pairs"] == 4
    for t in data["tasks"]:
        tiered = [e for e in t["entries"] if e["tier"] is not None]
        for x in tiered:
            for y in tiered:
                if x["tier"] < y["tier"]:
                    assert x["mean"] >= y["mean"], (t["task"], x["submission"], y["submission"])


def test_pages_use_the_same_records_as_the_cli():
    """The leaderboard's tiers equal compute_tiers on the raw records (one definition of an entry's records)."""
    recs = _records()
    from bench.leaderboard.data import assemble

    view = next(t for t in assemble(recs, n_boot=100).tasks if t.name == REAL)
    assert {e.submission: e.tier for e in view.entries} == compute_tiers(recs, REAL, "top1").tiers


# ---- issue #16, item 1: failed is not missing ------------------------------------------------------
def test_an_entry_that_only_failed_is_a_failed_attempt_not_an_entry(verdict_site):
    text = _text(verdict_site / "tasks" / f"{REAL}.html")
    assert re.search(r"Failed attempts .* c : 8 units failed — 8 × DataError: THINGS-EEG2 root folder not found", text,
                     re.S)
    assert "fix: bench data download" not in text                      # the first line of the error only
    board = verdict_site / "tasks" / f"{REAL}.html"
    rows = re.findall(r'<td class="name"><a href="[^"]+">([^<]+)</a>', board.read_text())
    assert "c" not in rows and set(rows) == {"a", "b"}
    assert not (verdict_site / "submissions" / "c.html").exists()
    assert "1 failed attempt" in _text(verdict_site / "index.html")
    data = json.loads((verdict_site / "leaderboard.json").read_text())
    task = next(t for t in data["tasks"] if t["task"] == REAL)
    assert "c" not in {e["submission"] for e in task["entries"]}


# ---- issue #16, item 5: plots and intervals that read right ----------------------------------------
def test_intervals_are_clipped_to_the_metric_range_and_omitted_at_small_n():
    from scipy import stats

    from bench.leaderboard.data import fmt_interval, interval
    from bench.stats.aggregate import SubmissionSummary

    s = SubmissionSummary("t", "x", "top1", mean=0.05, se=0.1, n_subjects=3, n_seeds=2, n_units=6)
    iv = interval(s, "top1")
    half = stats.t.ppf(0.975, 2) * 0.1
    assert iv.low == 0.0 and iv.high == pytest.approx(0.05 + half) and iv.clipped_low and not iv.clipped_high
    assert fmt_interval(iv, "top1") == f"[0.00, {100 * (0.05 + half):.2f}] (clipped)"
    assert interval(SubmissionSummary("t", "x", "top1", 0.5, 0.2, 2, 1, 2), "top1") is None      # n = 2: no interval
    loss = interval(SubmissionSummary("t", "x", "val_loss", -3.0, 1.0, 4, 1, 4), "val_loss")      # unbounded metric
    assert not loss.clipped and loss.low == pytest.approx(-3.0 - stats.t.ppf(0.975, 3))


def test_index_table_shows_the_95_percent_interval(verdict_site):
    from scipy import stats

    recs = [r for r in _records() if r.task == "pooled-task"]
    good = np.array([r.metrics["top1"] for r in recs if r.submission == "good"])
    lo, hi = stats.t.interval(0.95, len(good) - 1, loc=good.mean(), scale=stats.sem(good))
    index = _text(verdict_site / "index.html")
    assert f"[{100 * lo:.2f}, {100 * hi:.2f}]" in index and "95% CI" in index


def test_one_quantity_per_axis_and_series_told_apart_without_colour(site):
    from bench.leaderboard.plots import curve_panels, style

    assert curve_panels(["lr", "seconds", "temperature", "train_loss", "val_loss", "val_top1"]) == [
        ["train_loss", "val_loss"], ["lr"], ["seconds"], ["temperature"], ["val_top1"]]
    looks = {(style(i)["marker"], style(i)["ls"]) for i in range(10)}
    assert len(looks) == 10 and len({style(i)["marker"] for i in range(10)}) == 10
    kway = (site / "plots" / f"task-{REAL}-kway.svg").read_text()
    assert "stroke-dasharray" in kway                                    # dashed series, not colour alone
