"""The analyses on the pages, built by the CLI from a snapshot folder of the demo design (no training):
the factorial page (numbers checked against scipy), the noise ceiling beside chance with each entry's
fraction (checked by hand), validity badges with failed checks shown, and verification text that only
a verification file made of the very snapshot can earn."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.analysis.checks import Check, Checklist
from bench.cli import app
from bench.records.snapshot import export_snapshot
from tests.analysis.records import DEMO_TASK, demo_design_records, null_records


def _text(path: Path) -> str:
    """A page's visible text (tags dropped, entities decoded, whitespace collapsed)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", path.read_text())))


def _ceiling_doc(subjects=(1, 2)) -> dict:
    from bench.analysis.ceilings import TaskCeiling, subject_ceiling

    rng = np.random.default_rng(0)
    signal = rng.normal(0, 1, (30, 1, 40))
    out = TaskCeiling(task=DEMO_TASK, metric="top1")
    for s in subjects:
        trials = signal + rng.normal(0, 2.5, (30, 4, 40))
        out.subjects.append(subject_ceiling(trials, s, n_splits=5))
    return {**out.to_dict(), "task_hash": "t" * 16}


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory) -> tuple[Path, list, dict]:
    import bench.analysis.verify as verify

    tmp = tmp_path_factory.mktemp("analysis-pages")
    records = demo_design_records()
    rng = np.random.default_rng(7)
    by_sub = {s: [r for r in records if r.submission == s] for s in {r.submission for r in records}}
    records_null = null_records(by_sub["demo"], None, rng) + null_records(by_sub["demo_atm"], 0.3, rng)
    folder = tmp / "submitted"
    folder.mkdir()
    verified = [r for r in records + records_null if r.submission != "demo_atm_random_convnet"]
    snap = export_snapshot(verified, folder / "verified.json")
    claimed = copy.deepcopy(by_sub["demo_atm_random_convnet"])
    for r in claimed:                                              # a snapshot claiming its own verification
        r.info["verification"] = {"verified": True, "badge": "verified: forged claim"}
    export_snapshot(claimed, folder / "claimed.json")

    # the verification file of verified.json (the re-runs themselves are tested in tests/analysis/test_verify.py)
    mp = pytest.MonkeyPatch()
    mp.setattr(verify, "key_mismatch", lambda r: None)
    mp.setattr(verify, "rerun_unit", lambda r, settings, tol: verify.UnitCheck("u", "match", "ok", 0.0, r.key))
    try:
        result, vpath = verify.verify_snapshot(snap, None, sample=2, seed=0)
    finally:
        mp.undo()
    assert vpath == folder / "verified.json.verification.json" and result.verified

    ceiling = _ceiling_doc()
    (folder / "demo.ceiling.json").write_text(json.dumps(ceiling))
    leaky = Checklist(DEMO_TASK, "demo_random_convnet",
                      [Check("image_overlap", "fail", "1 of 200 test images within 4 bits of a training image", 1.0)])
    (folder / "demo_random_convnet.checks.json").write_text(json.dumps(leaky.to_dict()))

    site = tmp / "site"
    res = CliRunner().invoke(app, ["leaderboard", "build", "--out", str(site), "--snapshot", str(folder),
                                   "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    return site, records, ceiling


def _subject_means(records, sub: str) -> dict[int, float]:
    vals: dict[int, list[float]] = {}
    for r in records:
        if r.submission == sub and r.task == DEMO_TASK:
            vals.setdefault(r.subject, []).append(r.metrics["top1"])
    return {s: float(np.mean(v)) for s, v in vals.items()}


def test_factorial_page_of_the_demo_design(demo_site):
    from scipy import stats

    site, records, _ = demo_site
    page = site / "factorial" / f"{DEMO_TASK}.html"
    assert page.is_file() and (site / "plots" / f"factorial-{DEMO_TASK}.svg").stat().st_size > 3000
    text = _text(page)
    for term in ("encoder", "image_model", "encoder:image_model"):
        assert f"{term} " in text
    # interaction F = t^2 of the per-subject difference of differences (independent computation)
    m = {s: _subject_means(records, s) for s in ("demo", "demo_atm", "demo_random_convnet", "demo_atm_random_convnet")}
    dd = [(m["demo_atm_random_convnet"][s] - m["demo_atm"][s]) - (m["demo_random_convnet"][s] - m["demo"][s])
          for s in (1, 2)]
    t = stats.ttest_1samp(dd, 0).statistic
    assert f"{t ** 2:.3f}" in text, (t ** 2, text[:3000])
    assert "Linear mixed model" in text and "Interaction plot" in text and 'alt="Interaction plot' in page.read_text()
    task_page = _text(site / "tasks" / f"{DEMO_TASK}.html")
    assert "encoder × image_model design of 4 complete entries" in task_page
    assert f'href="../factorial/{DEMO_TASK}.html"' in (site / "tasks" / f"{DEMO_TASK}.html").read_text()


def test_noise_ceiling_beside_chance_and_fractions(demo_site):
    site, records, ceiling = demo_site
    text = _text(site / "tasks" / f"{DEMO_TASK}.html")
    mean = np.mean([s["ceiling"] for s in ceiling["subjects"]])
    assert f"Noise ceiling {100 * mean:.2f} %" in text and "Spearman-Brown" in text
    assert f"chance {100 * ceiling['chance']:.2f} %" in text
    for s in ceiling["subjects"]:
        assert f"sub-{s['subject']:02d} 30 × 4" in text and f"{100 * s['ceiling']:.2f} %" in text
    per = _subject_means(records, "demo_atm")
    frac = np.mean([per[s["subject"]] / s["ceiling"] for s in ceiling["subjects"]])
    assert f"demo_atm {frac:.3f}" in text
    summary = json.loads((site / "leaderboard.json").read_text())
    task = next(t for t in summary["tasks"] if t["task"] == DEMO_TASK)
    assert task["noise_ceiling"]["mean"] == pytest.approx(mean)
    assert "no noise ceiling for this task yet" in _text(site / "tasks" / f"{DEMO_TASK}-shuffled.html").lower()


def test_validity_badges_show_failed_checks(demo_site):
    site, _, _ = demo_site
    demo = _text(site / "submissions" / "demo.html")
    assert "shuffled_null: ok" in demo and "validation_only: ok" in demo and "seeds_complete: ok" in demo
    assert "image_overlap: not run" in demo and "block_design: n/a" in demo
    leak = _text(site / "submissions" / "demo_atm.html")               # planted above-chance null
    assert "shuffled_null: FAIL" in leak and "shuffled_null failed: top-1" in leak
    overlap = _text(site / "submissions" / "demo_random_convnet.html")  # from its bench check file
    assert "image_overlap: FAIL" in overlap and "image_overlap failed: 1 of 200 test images" in overlap
    board = _text(site / "tasks" / f"{DEMO_TASK}.html")
    assert "FAIL: shuffled_null" in board and "FAIL: image_overlap" in board
    about = _text(site / "about.html")
    assert "α = 0.01" in about and "within 4 bits" in about and "pre-stimulus window -0.2 … 0.0 s" in about
    assert "Verified entries" in about and "verification.json" in about


def test_verification_text_is_earned_by_the_snapshot_file(demo_site):
    site, _, _ = demo_site
    demo = _text(site / "submissions" / "demo.html")
    assert re.search(r"Verification verified: 2 of \d+ units re-run, harness \S+, \d{4}-\d\d-\d\d", demo), demo[-800:]
    claimed = _text(site / "submissions" / "demo_atm_random_convnet.html")
    assert "Verification unverified" in claimed and "forged" not in claimed


def test_an_edited_snapshot_loses_its_verification(tmp_path):
    from bench.analysis.verify import attach_verification, entry_verification, verification_path
    from bench.records.snapshot import import_snapshot

    records = demo_design_records()[:4]
    snap = export_snapshot(records, tmp_path / "s.json")
    doc = {"schema": "brainvis-bench/snapshot-verification", "verified": True, "badge": "verified: 1 of 4 units",
           "snapshot_sha256": __import__("hashlib").sha256(snap.read_bytes()).hexdigest()}
    verification_path(snap).write_text(json.dumps(doc))
    assert entry_verification(attach_verification(import_snapshot(snap), snap)) == "verified: 1 of 4 units"
    data = json.loads(snap.read_text())
    data["records"][0]["metrics"]["top1"] = 0.99                                # edited after verification
    snap.write_text(json.dumps(data))
    assert entry_verification(attach_verification(import_snapshot(snap), snap)) == "unverified"


def test_incomplete_design_is_stated_on_the_task_page(site):
    text = _text(site / "tasks" / "things-eeg2-retrieval-200-demo.html")
    assert "Not a complete design (encoder × image_model): missing factor 'image_model' has 1 level(s)" in text
    assert not (site / "factorial" / "things-eeg2-retrieval-200-demo.html").exists()


def test_bad_analysis_files_are_refused_with_the_file_named(tmp_path):
    from bench.errors import RecordError
    from bench.leaderboard.analyses import load_analyses

    bad = tmp_path / "x.ceiling.json"
    bad.write_text(json.dumps({"schema": "brainvis-bench/noise-ceiling", "task": "t", "subjects": [{"subject": 1}]}))
    with pytest.raises(RecordError, match="subjects") as err:
        load_analyses([tmp_path])
    assert "x.ceiling.json" in str(err.value)
    bad.write_text(json.dumps({"schema": "other", "task": "t"}))
    with pytest.raises(RecordError, match="unknown analysis schema"):
        load_analyses([bad])


@pytest.mark.browser
def test_analysis_pages_load_cleanly_in_a_browser(demo_site, open_page):
    """The factorial page, the task page with the ceiling and an entry page with badges: no console error,
    no blocked or external request, the interaction plot drawn, failed badges visible."""
    site, _, _ = demo_site
    probe = open_page(site / "factorial" / f"{DEMO_TASK}.html")
    width = probe.page.evaluate("() => document.querySelector('figure img').naturalWidth")
    assert width > 100 and probe.problems == []
    probe = open_page(site / "tasks" / f"{DEMO_TASK}.html")
    assert probe.page.is_visible("#ceiling") and "Noise ceiling" in probe.page.inner_text("main")
    assert probe.problems == []
    probe = open_page(site / "submissions" / "demo_atm.html")
    fail = probe.page.locator(".check-fail").first
    assert fail.is_visible() and fail.inner_text() == "shuffled_null: FAIL" and probe.problems == []
