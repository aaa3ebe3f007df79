"""The site's files without a browser: layout, links, escaping, tables, reported numbers, record checks."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.errors import RecordError
from bench.leaderboard import build_site, load_reported
from bench.leaderboard.data import assemble, check_records, fmt_pm, metric_label, slugify
from bench.leaderboard.reported import REPORTED_DIR, reported_for_task, reported_mismatches
from bench.leaderboard.templates import TEMPLATES
from bench.records.schema import Record
from bench.stats.tiers import assign_tiers
from tests.leaderboard.factory import HOSTILE, make_board, task_spec

TASK = "things-eeg2-retrieval-200"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.urls.append(value)


def test_site_layout(site):
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    for expected in ("index.html", "reported.html", "about.html", "leaderboard.json", ".nojekyll", "assets/site.css",
                     "assets/sort.js", f"tasks/{TASK}.html", "tasks/things-eeg2-retrieval-200-demo.html",
                     "submissions/nice_dreamsim.html", "submissions/nice_clip_partial.html", "submissions/demo.html"):
        assert expected in names, expected
    assert len([n for n in names if n.startswith("plots/") and n.endswith(".svg")]) >= 20


def test_links_are_relative_local_and_resolve(site):
    for page in site.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text())
        assert parser.tags.count("script") == 1                    # only assets/sort.js
        for url in parser.urls:
            if url.startswith("data:"):
                continue
            assert not re.match(r"^[a-z]+:|^//|^/", url), (page, url)  # no external or absolute URL
            target = (page.parent / url.split("#")[0]).resolve()
            assert target.is_file(), (page, url)


def test_no_external_resources_and_a_csp(site):
    for page in site.rglob("*.html"):
        text = html.unescape(page.read_text())
        assert "Content-Security-Policy" in text and "script-src 'self'" in text
        assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    for svg in site.rglob("*.svg"):
        head = svg.read_bytes()[:4000].decode()
        assert "<script" not in head and "@font-face" not in head


def test_templates_never_mark_text_safe():
    for name, source in TEMPLATES.items():
        assert "|safe" not in source.replace(" ", "") and "Markup" not in source, name
        assert "autoescape false" not in source, name


def test_summary_json_matches_tiers_and_flags(site, board_records):
    data = json.loads((site / "leaderboard.json").read_text())
    task = next(t for t in data["tasks"] if t["task"] == TASK)
    tiers = assign_tiers(board_records, TASK, "top1")
    assert {e["submission"]: e["tier"] for e in task["entries"]} == tiers
    partial = next(e for e in task["entries"] if e["submission"] == "nice_clip_partial")
    assert not partial["complete"] and partial["n_units"] == 12 and partial["expected_units"] == 15
    assert task["correction"] == "holm" and task["chance"] == pytest.approx(1 / 200)
    assert task["reported"] == []            # AlignVis ranks by Pearson r: not comparable with the cosine default
    page = (site / "tasks" / f"{TASK}.html").read_text()
    assert 'id="reported-mismatch"' in page and "similarity: paper pearson, task cosine" in page
    assert "reported in AlignVis (Rajabi et al. 2025 (ICML)), Table 1 (48 figures" in page
    demo = next(t for t in data["tasks"] if t["task"].endswith("-demo"))
    assert demo["reported"] == []                                     # simulated data are never matched to papers


def test_task_page_table_and_partial_entry(site, board_records):
    text = (site / "tasks" / f"{TASK}.html").read_text()
    summaries = assemble(board_records, n_boot=100).tasks
    view = next(t for t in summaries if t.name == TASK)
    for e in view.entries:
        assert html.escape(fmt_pm(e.summary.mean, e.summary.se, "top1")) in text
    assert "incomplete (1 failed, 2 never run of 15 units)" in text
    sub = (site / "submissions" / "nice_clip_partial.html").read_text()
    assert "sub-02/seed1" in sub and "sub-04/seed0" in sub and "sub-05/seed2" in sub
    assert "it is not compared until every unit has finished" in sub
    assert "CUDA out of memory" in sub                               # the failed unit's error is shown
    nice = (site / "submissions" / "nice_dreamsim.html").read_text()
    assert nice.count('<tr><td><a href="') >= 3                       # comparisons against the 3 other complete entries


def test_hostile_text_is_escaped_in_every_file(hostile_site):
    escaped = "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;"
    for page in hostile_site.rglob("*.html"):
        text = page.read_text()
        assert HOSTILE not in text and "<script>window" not in text and "<img src=x" not in text, page
        assert "<b>bold</b>" not in text
    sub = next(p for p in (hostile_site / "submissions").glob("*.html") if "script" in p.name)
    assert escaped in sub.read_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]+-[0-9a-f]{8}\.html", sub.name)


def test_rebuild_replaces_its_files_and_refuses_foreign_folders(board_records, tmp_path):
    small = [r for r in board_records if r.task.endswith("-demo")]
    out = tmp_path / "site"
    build_site(small, out, n_boot=50)
    (out / "CNAME").write_text("example.org")
    (out / "tasks" / "stale.html").write_text("old")
    build_site(small, out, n_boot=50)
    assert (out / "CNAME").exists() and not (out / "tasks" / "stale.html").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RecordError, match="not empty"):
        build_site(small, foreign)


def test_bad_records_fail_clearly():
    good = make_board({"a": ("nice_dreamsim", 0.4)}, task=task_spec(subjects=(1, 2), seeds=(0,)))
    bad = Record.from_dict({**good[0].to_dict(), "metrics": {"top1": "high"}})
    with pytest.raises(RecordError, match="metrics.top1"):
        check_records([bad])
    bad = Record.from_dict({**good[0].to_dict(), "task_spec": {"name": "x"}})
    with pytest.raises(RecordError, match="subjects"):
        check_records([bad])
    with pytest.raises(RecordError, match="no records"):
        assemble([])


def test_conflicting_records_are_flagged_not_tiered():
    task = task_spec(subjects=(1, 2, 3, 4), seeds=(0, 1))
    recs = make_board({"a": ("nice_dreamsim", 0.5), "b": ("atm_dreamsim", 0.3)}, task=task)
    stale = Record.from_dict({**recs[0].to_dict(), "key": "stale-key", "metrics": {"top1": 0.9}})
    view = assemble(recs + [stale], n_boot=100).tasks[0]
    entry = next(e for e in view.entries if e.submission == "a")
    assert entry.conflicting == ["sub-01/seed0"] and entry.tier is None and not entry.complete
    assert next(e for e in view.entries if e.submission == "b").tier == 1


def test_slugs_are_safe_and_unique():
    used: set[str] = set()
    assert slugify("nice_dreamsim", used) == "nice_dreamsim"
    assert slugify("NICE_dreamsim", used) != "nice_dreamsim"          # case-insensitive file systems
    for name in ("../../etc/passwd", "a/b", ".hidden", "", "<x>"):
        slug = slugify(name, used)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", slug) and slug not in ("", ".", "..")
    assert metric_label("kway/50/top1") == "50-way top-1 (%)" and metric_label("top5") == "top-5 (%)"


def test_reported_numbers_keep_provenance_and_map_to_tasks():
    rows = load_reported()
    assert {r.paper for r in rows} == {"AlignVis", "Palazzo 2020", "NeuroImagen", "ATM"}
    first = rows[0]
    assert first.source == "alignvis_rajabi2025.csv:2" and first.table == "Table 1"
    assert first.label == "reported in AlignVis (Rajabi et al. 2025 (ICML)), Table 1"
    assert first.value_text == "39.51" and first.spread_text == "1.42"
    assert any(r.spread_text == "1.80" for r in rows)                 # trailing zeros as printed
    # AlignVis ranks by Pearson r: its figures attach to the AlignVis variant (similarity: pearson),
    # not to the cosine default, which lists them as not comparable (issue #18).
    default = task_spec()
    assert reported_for_task(rows, default) == []
    (mismatch,) = reported_mismatches(rows, default)
    assert mismatch.n_rows == 48 and mismatch.reasons == ("similarity: paper pearson, task cosine",)
    real = task_spec("things-eeg2-retrieval-200-alignvis")
    matched = reported_for_task(rows, real)
    assert len(matched) == 48 and {r.table for r in matched} == {"Table 1"}
    assert all(r.protocol.similarity == "pearson" and r.protocol.selection == "validation" for r in matched)
    single = {**real, "dataset": {**real["dataset"], "train_repetitions": "single"}}
    assert reported_for_task(rows, single) == []
    assert reported_for_task(rows, {**real, "dataset": {**real["dataset"], "source": "simulated"}}) == []
    loso = {**real, "scheme": "leave-one-subject-out"}
    assert {r.table for r in reported_for_task(rows, loso)} == {"Table 2", "Table 6"}
    meg = {**real, "dataset": {**real["dataset"], "name": "things-meg"}}
    assert {r.table for r in reported_for_task(rows, meg)} == {"Table 3", "Table 7"}


def test_packaged_csvs_equal_the_reference_copies():
    shared = Path(__file__).resolve().parents[3] / "shared" / "reference"
    if not shared.is_dir():
        pytest.skip("the shared reference folder is not next to the repository")
    for csv in shared.glob("*.csv"):
        assert (REPORTED_DIR / csv.name).read_bytes() == csv.read_bytes(), csv.name


def test_reported_page_lists_every_paper_by_dataset(site):
    text = (site / "reported.html").read_text()
    for label in ("AlignVis", "Palazzo 2020", "NeuroImagen", "ATM"):
        assert label in text
    for ds in ("THINGS-EEG2", "THINGS-MEG", "NSD (fMRI)", "ImageNet-EEG"):
        assert f"<h2>{ds}</h2>" in text
    assert "reported in Palazzo 2020, Table 4" in text
