"""report.html in a real browser: Debian's chromium, driven by Playwright, loads it offline with every section and no console error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECTIONS = ["funnel", "diversity", "shape", "flags", "cost"]


def _need_chromium() -> None:
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; `make test` installs Debian's chromium package")
        pytest.skip("chromium not installed (make chromium)")


def test_report_renders_in_chromium_with_every_section(runner: CliRunner, mock_run: Path, tmp_path: Path) -> None:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    result = runner.invoke(app, ["report", str(mock_run), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page_path = tmp_path / "report.html"
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            for section in SECTIONS:
                heading = page.locator(f"section#{section} h2")
                assert heading.is_visible(), section
                assert page.locator(f"section#{section}").bounding_box()["height"] > 100, section
            charts = page.locator(".chart svg")
            assert charts.count() == 6
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box and box["width"] > 200 and box["height"] > 100, i
            assert "Dataset report" in page.title() or "selfinstruct report" in page.title()
            page.screenshot(path=str(tmp_path / "first_screen.png"))
        finally:
            browser.close()
    assert problems == []
    assert requests == [page_path.as_uri()]  # nothing fetched at view time: the page is self-contained
    assert (tmp_path / "first_screen.png").stat().st_size > 10_000
