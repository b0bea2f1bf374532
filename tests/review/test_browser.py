"""`selfinstruct review` in a real browser: Debian's chromium, driven by Playwright, against the real uvicorn server."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.reviews import ReviewLog
from tests.review.serving import alpaca_rows, review_lines, serving, write_rows

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; `make test` installs Debian's chromium package")
        pytest.skip("chromium not installed (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _open(context, url: str, problems: list[str]):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def _settled(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector("body[data-pending='0']")


def _press(page, *keys: str) -> None:  # type: ignore[no-untyped-def]
    for key in keys:
        page.keyboard.press(key)


def _verdicts(path: Path) -> dict[int, str | None]:
    return {row: review.verdict for row, review in ReviewLog.read(path).reviews.items()}


def test_mark_edit_reload_second_tab_and_export(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = write_rows(tmp_path / "data.json", alpaca_rows(60))
    reviews = tmp_path / "data.reviews.jsonl"
    problems: list[str] = []
    with serving(data) as s:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        tab = _open(context, s.url, problems)
        assert tab.locator("article.row").count() == 20 and "page 1 of 3" in tab.inner_text("nav")
        assert tab.locator("#row-3 pre.code code[data-lang='python']").inner_text() == "print(3 * 3)"  # code shown as code

        # Keyboard only: right, right, wrong, skip, right; back up two rows and change the skip to wrong.
        _press(tab, "r", "r", "w", "s", "r", "ArrowUp", "ArrowUp", "w")
        # Edit row 4's output and add a note, still without the mouse.
        _press(tab, "e", "Control+a")
        tab.keyboard.type("Edited answer: 12.")
        _press(tab, "Control+Enter", "n")
        tab.keyboard.type("needs a source")
        _press(tab, "Enter")
        _settled(tab)
        assert tab.inner_text("#counts").startswith("5 reviewed of 60 · 3 right · 2 wrong")
        assert "95% Wilson interval 23.1–88.2%" in tab.inner_text("#interval")  # 3 of 5
        assert _verdicts(reviews) == {0: "right", 1: "right", 2: "wrong", 3: "wrong", 4: "right"}
        lines = review_lines(reviews)
        assert [line for line in lines if "output" in line][0]["output"] == "Edited answer: 12."
        assert [line for line in lines if "note" in line][0]["note"] == "needs a source"
        assert all(line["hash"] == s.session.data.digests[line["row"]] for line in lines)

        # A reload keeps everything, and the row the person was on.
        tab.reload()
        tab.wait_for_selector("body[data-ready='1']")
        assert [tab.get_attribute(f"#row-{i}", "class").split()[1] for i in range(5)] == ["right", "right", "wrong", "wrong", "right"]
        assert tab.inner_text("#row-4 .output") == "Edited answer: 12." and tab.is_visible("#row-4 .badge.edited")
        assert tab.inner_text("#row-4 .note") == "needs a source"
        assert tab.get_attribute("article.row.current", "id") == "row-4"

        # A second tab sees the same state; its later verdict on row 0 wins, and no other row is touched.
        second = _open(context, s.url, problems)
        assert second.get_attribute("#row-2", "class").split()[1] == "wrong"
        assert second.get_attribute("article.row.current", "id") == "row-5"  # the printed URL resumes at the first row without a verdict
        _press(second, *["ArrowUp"] * 5, "w")
        _settled(second)
        assert _verdicts(reviews) == {0: "wrong", 1: "right", 2: "wrong", 3: "wrong", 4: "right"}
        tab.evaluate("window.dispatchEvent(new Event('focus'))")  # the first tab comes back to the front
        tab.wait_for_selector("#row-0.wrong")
        assert "4 reviewed" not in tab.inner_text("#counts") and tab.inner_text("#counts").startswith("5 reviewed of 60 · 2 right · 3 wrong")

        # Marking the page's last row moves on to the next page.
        _press(second, *["ArrowDown"] * 18, "r")  # from row 1 to row 19, the last of page 1
        second.wait_for_url("**page=2**")
        second.wait_for_selector("body[data-ready='1']")
        assert second.get_attribute("article.row.current", "data-row") == "20"
        assert _verdicts(reviews)[19] == "right" and 20 not in _verdicts(reviews)
        second.screenshot(path=str(tmp_path / "second.png"))
        context.close()
    assert problems == []

    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["export", str(data), "--format", "alpaca", "--out", str(out), "--drop-rejected"])
    assert result.exit_code == 0, result.output
    assert "3 rows marked wrong dropped and 1 edited outputs used" in result.output
    exported = json.loads((out / "alpaca_data.json").read_text())
    assert len(exported) == 57
    kept = {row["instruction"]: row["output"] for row in exported}
    assert not {f"Answer question number {i}." for i in (0, 2, 3)} & set(kept)
    assert kept["Answer question number 4."] == "Edited answer: 12."
    card = (out / "README.md").read_text()
    assert "Human review (`selfinstruct review`): 3 of 6 reviewed rows right: 50.0%" in card
    assert "3 rows marked wrong left out, 1 edited outputs used" in card


def _first_page_seconds(browser, data: Path, loads: int = 5) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds to start the review, median seconds from navigation to the first page drawn and ready for keys)."""
    started = time.perf_counter()
    with serving(data) as s:
        ready = time.perf_counter() - started
        context = browser.new_context()
        page = context.new_page()
        times = []
        for _ in range(loads):
            t0 = time.perf_counter()
            page.goto(s.url)
            page.wait_for_selector("body[data-ready='1']")
            times.append(time.perf_counter() - t0)
        assert page.locator("article.row").count() == min(20, len(s.session.data.rows))
        context.close()
    return ready, statistics.median(times)


def test_first_page_of_50k_rows_loads_as_fast_as_of_50(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = write_rows(tmp_path / "small.json", alpaca_rows(50))
    large = write_rows(tmp_path / "large.json", alpaca_rows(50_000))
    _first_page_seconds(browser, small, loads=1)  # warm: imports, templates, the browser process
    start_small, page_small = _first_page_seconds(browser, small)
    start_large, page_large = _first_page_seconds(browser, large)
    print(f"\nfirst page: 50 rows {1000 * page_small:.0f} ms, 50K rows {1000 * page_large:.0f} ms (median of 5); "
          f"start: 50 rows {1000 * start_small:.0f} ms, 50K rows {1000 * start_large:.0f} ms")  # fmt: skip
    assert page_large < max(2 * page_small, page_small + 0.25), (page_small, page_large)
