"""Shared fixtures: synthetic records, built sites, and a headless Debian chromium driven by playwright."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.leaderboard.factory import hostile_records, standard_records

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUILT = "2025-01-01 00:00 UTC"


@pytest.fixture(scope="session")
def board_records():
    return standard_records()


@pytest.fixture(scope="session")
def site(board_records, tmp_path_factory) -> Path:
    """The site built from the standard board (5 entries on the headline task, 2 on the demo task)."""
    from bench.leaderboard import build_site

    out = tmp_path_factory.mktemp("site") / "site"
    build_site(board_records, out, built=BUILT, n_boot=2000,
               last_update={"things-eeg2-retrieval-200": "2025-01-01 00:00 UTC"})
    return out


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory) -> Path:
    from bench.leaderboard import build_site

    out = tmp_path_factory.mktemp("hostile") / "site"
    build_site(hostile_records(), out, built=BUILT, n_boot=500)
    return out


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium (skips, saying how to install it, when /usr/bin/chromium is absent)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): run `bash ci/install-system.sh`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageProbe:
    """A page plus everything that went wrong while it loaded: console errors, page errors, failed or
    non-local requests."""

    def __init__(self, browser, path: Path) -> None:
        self.problems: list[str] = []
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on("request", lambda r: None if r.url.startswith(("file://", "data:"))
                     else self.problems.append(f"non-local request: {r.url}"))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_page(browser):
    """open_page(path) -> PageProbe; pages are closed after the test."""
    probes: list[PageProbe] = []

    def _open(path: Path) -> PageProbe:
        probe = PageProbe(browser, path)
        probes.append(probe)
        return probe

    yield _open
    for p in probes:
        p.close()
