"""Pages at 390 px (a phone) and 1400 px in headless chromium (issue #16, items 5 and 7): nothing but tables and
plots scrolls sideways, the score sits next to the name, plots keep legible text, images carry their size and
say what they show, the filter box works under the strict CSP, results download as CSV/JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest

pytestmark = pytest.mark.browser

TASK = "things-eeg2-retrieval-200"
WIDTHS = (390, 1400)


def _open(browser, path, width):
    problems: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, problems


def _pages(site):
    sub = site / "submissions"
    return [site / "index.html", site / "about.html", site / "reported.html", site / "tasks" / f"{TASK}.html",
            sub / "nice_dreamsim.html", sub / "nice_clip_partial.html"]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways_and_every_table_has_its_own_wrapper(site, browser, width):
    for path in _pages(site):
        page, problems = _open(browser, path, width)
        try:
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path.name, width, overflow)
            unwrapped = page.evaluate("""() => Array.from(document.querySelectorAll('main table')).filter(t => {
                const w = t.parentElement; return !(w && getComputedStyle(w).overflowX === 'auto'); }).length""")
            assert unwrapped == 0, (path.name, unwrapped)
            description = page.get_attribute('meta[name="description"]', "content")
            assert description and len(description) > 30, path.name
            assert problems == [], (path.name, problems)
        finally:
            page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_score_next_to_name_and_plots_legible_with_their_size(site, browser, width):
    page, problems = _open(browser, site / "tasks" / f"{TASK}.html", width)
    try:
        adjacent = page.evaluate("""() => Array.from(document.querySelectorAll('#board tbody tr')).every(
            r => r.querySelector('td.name').nextElementSibling.classList.contains('score'))""")
        assert adjacent
        imgs = page.evaluate("""() => Array.from(document.querySelectorAll('main figure img')).map(i => ({
            w: +i.getAttribute('width'), h: +i.getAttribute('height'), shown: i.getBoundingClientRect().width,
            alt: i.alt, natural: i.naturalWidth}))""")
        assert len(imgs) >= 2
        for img in imgs:
            assert img["w"] > 100 and img["h"] > 50 and img["natural"] > 0
            # drawn at (nearly) its own size, so its text stays at its drawn size; a phone scrolls the plot box
            if width < 600:
                assert img["shown"] >= img["w"] * 0.95, img
            assert len(img["alt"]) > 60 and any(w in img["alt"].lower() for w in ("plot", "heatmap")), img["alt"]
        alts = " ".join(i["alt"] for i in imgs)
        assert "nice_dreamsim" in alts and "top-1" in alts
        assert problems == []
    finally:
        page.close()


def test_filter_box_hides_and_restores_rows_under_the_csp(site, browser):
    page, problems = _open(browser, site / "tasks" / f"{TASK}.html", 390)
    try:
        csp = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        visible = "() => Array.from(document.querySelectorAll('#board tbody tr')).filter(r => !r.hidden).map(" \
                  "r => r.querySelector('td.name').innerText.trim())"
        everyone = page.evaluate(visible)
        page.fill("#filter-board", "atm")
        assert page.evaluate(visible) == ["atm_dreamsim"]
        page.fill("#filter-board", "NICE")
        assert set(page.evaluate(visible)) == {"nice_dreamsim", "nice_clip", "nice_clip_partial"}
        page.fill("#filter-board", "")
        assert page.evaluate(visible) == everyone
        assert problems == []
    finally:
        page.close()


def test_task_page_links_csv_and_json_with_every_metric(site, board_records, browser):
    page, problems = _open(browser, site / "tasks" / f"{TASK}.html", 1400)
    try:
        links = page.eval_on_selector_all(".downloads a", "as => as.map(a => a.getAttribute('href'))")
    finally:
        page.close()
    assert links == [f"../data/{TASK}.csv", f"../data/{TASK}.json"]
    rows = list(csv.DictReader(io.StringIO((site / "data" / f"{TASK}.csv").read_text())))
    mine = [r for r in board_records if r.task == TASK]
    assert len(rows) == len(mine)
    for metric in ("top1", "top5", "kway/2/top1", "kway/50/top1", "kway/100/top5"):
        assert metric in rows[0], metric
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == "RuntimeError: CUDA out of memory"
    one = next(r for r in mine if r.finished)
    row = next(x for x in rows if x["key"] == one.key)
    assert float(row["kway/50/top1"]) == pytest.approx(one.metrics["kway/50/top1"], rel=1e-15)
    doc = json.loads((site / "data" / f"{TASK}.json").read_text())
    nice = next(e for e in doc["entries"] if e["submission"] == "nice_dreamsim")
    assert {"top1", "top5", "kway/10/top1", "last_epoch/top1"} <= set(nice["metrics"])
    assert set(nice["metrics"]["kway/10/top1"]["per_subject"]) == {f"sub-0{s}" for s in range(1, 6)}
    assert nice["metrics"]["top1"]["ci95"][0] < nice["metrics"]["top1"]["mean"] < nice["metrics"]["top1"]["ci95"][1]
