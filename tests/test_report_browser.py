"""The report in a real browser: Debian's headless Chromium driven by Playwright.

Without Chromium the test skips with a reason (it fails instead under FORECAST_REQUIRE_ALL=1,
which CI sets after installing Chromium in .ci/run). The full-page screenshot is kept in the
test's tmp folder (and copied to $FORECAST_SCREENSHOT_DIR when that is set) for a person to see.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import needs
import pytest

from forecast.report.html import write_report
from forecast.runs.store import RunStore

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = needs.chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(executable), args=ARGS)
        yield b
        b.close()


def test_report_renders_in_chromium(browser, mini_runs, tmp_path):
    page_file = write_report(RunStore(mini_runs).runs(), tmp_path / "report")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri(), wait_until="load")

    assert page.title().startswith("Mini test scenario")
    headline = page.locator("#headline")
    assert headline.is_visible()
    assert headline.locator("tbody tr").count() == 5  # deal, alpha, beta, bases_kept, calm
    assert page.locator("#convergence.bad").is_visible()  # short mini runs do not converge
    # for a policy reader: old evidence flagged first, dates, words, rules, how the run was made
    assert page.locator("#stale").is_visible()
    assert page.locator("#stale").inner_text().startswith("Old evidence. The evidence ends on")
    heads = headline.locator("thead th.num").all_inner_texts()
    assert [" ".join(h.split()) for h in heads] == [
        "by 31 December 2023 6 months",
        "by 30 June 2024 12 months",
        "by 30 June 2025 24 months",
    ]
    assert headline.locator("td .word").count() == 12  # every cell but beta's resolved ones
    assert headline.locator("td.rule").first.inner_text().startswith("Alpha or Beta signs")
    # the table fits the page, and the rule reads as lines of words, not a word a line
    table_box = headline.bounding_box()
    assert table_box["x"] + table_box["width"] <= 1200, table_box
    assert headline.locator("td.rule").first.bounding_box()["width"] >= 200
    assert "[/red] $x$" in headline.inner_text()  # user text shown as written
    assert page.locator("#scale li").count() == 7
    assert page.locator("#interval-scope").is_visible()
    assert page.locator("#method").inner_text().startswith("This run was sampled (NUTS)")
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(sizes) == 5
    assert all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    assert page.locator("#added a[href='https://example.org/second']").count() == 1
    assert requests == [page_file.as_uri()]  # nothing else fetched: the page is self-contained

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("FORECAST_SCREENSHOT_DIR"):
        dest = Path(os.environ["FORECAST_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "report.png")
    page.close()
    assert problems == [], problems
