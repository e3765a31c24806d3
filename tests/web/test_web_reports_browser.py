"""The Reports page in Chromium, served by a real ``phonelocker web`` over a school term.

Checks that the inline SVG charts render under the dashboard's CSP (a CSP
violation is a console error, which fails the test), that printing hides the
dashboard's chrome, and takes the README's screenshot: it is written to the test's
temporary folder, and to docs/screenshots/report.png when
PHONELOCKER_SAVE_SCREENSHOTS=1 (so an ordinary test run leaves the tree clean).
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.devtools.report_bench import build_school_year
from kiosk.school.staff import create_user
from kiosk.store.db import Database
from tests.conftest import write_config
from tests.web.conftest import free_port
from tests.web.test_web_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.web.test_web_process import WebProcess

pytestmark = pytest.mark.browser

PASSWORD = "governors read this 42"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "report.png"


@pytest.fixture(scope="module")
def served_term(tmp_path_factory):
    require_chromium()
    folder = tmp_path_factory.mktemp("reports-browser")
    config_file = write_config(folder)
    config = load_config(config_file)
    database = Database(config.database.url)
    database.upgrade()
    year = build_school_year(database, config, pupils=120, days=60, first_day=date(2025, 9, 3))
    with database.session() as session:
        create_user(session, "office", PASSWORD, role="office", actor="test")
        session.commit()
    database.dispose()
    web = WebProcess(config_file, free_port()).start()
    yield web, year
    web.stop()


def test_report_page_renders_charts_and_prints_without_the_dashboard(served_term, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    web, year = served_term
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        page.set_default_timeout(15000)
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(web.url("/login"))
        page.fill("input[name=username]", "office")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Today")
        page.click("nav >> text=Reports")
        page.fill("input[name=from]", year.first_day.isoformat())
        page.fill("input[name=to]", year.last_day.isoformat())
        page.click("button:has-text('Show')")
        expect(page.locator(".report-scope")).to_contain_text("60 school days")

        chart = page.locator("#chart-hand-ins")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box["width"] > 400 and box["height"] > 150  # drawn, not collapsed
        assert page.locator("#chart-hand-ins rect[fill='#0072B2']").count() >= 12  # one a week
        assert "Phones handed in, by week" in chart.locator("title").first.text_content()
        # The report's own stylesheet applied (served from /reports/report.css under the CSP).
        assert page.locator(".report-table thead th").first.evaluate(
            "e => getComputedStyle(e).backgroundColor") == "rgb(243, 244, 246)"

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20000

        page.emulate_media(media="print")
        expect(page.locator(".topbar")).to_be_hidden()
        expect(page.locator(".report-controls")).to_be_hidden()
        expect(chart).to_be_visible()
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10000
        browser.close()

    assert errors == []
    if os.environ.get("PHONELOCKER_SAVE_SCREENSHOTS") == "1":
        shutil.copy(shot, README_SHOT)
