"""Browser test: the office opens every bay (evacuation) and prints whose phones were inside.

Chromium against a real ``phonelocker demo`` (kiosk on the emulated reader and
pins), with the fixtures of ``test_web_browser.py``.
"""

from __future__ import annotations

import re

import pytest

from .test_web_browser import CARDS, browser, demo, log_in, page  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def test_open_every_bay_then_the_printable_list(page, demo):  # noqa: F811 - fixtures
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    demo.tap(CARDS["Dev Patel"])  # his phone goes in
    page.click("nav >> text=Office")
    form = page.locator("form[action$='/office/open-all']")
    form.locator("input[name=reason]").fill("fire alarm")
    form.locator("input[name=confirm]").fill("open")  # not the words: the form will not go
    form.locator("button").click()
    expect(form.locator("input[name=confirm]:invalid")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/office$"))
    form.locator("input[name=confirm]").fill("OPEN ALL")
    form.locator("button").click()  # the confirm() dialog is accepted by the fixture
    expect(page.locator("h1")).to_contain_text("Hand back at the assembly point")
    expect(page.locator("[data-command]")).to_contain_text("done", timeout=3000)
    row = page.locator(".evacuation-table tr", has_text="Dev Patel")
    expect(row).to_contain_text("6K")
    expect(page.locator("main")).to_contain_text("fire alarm")
    # Printed: no menu, and a column to tick each phone handed back.
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".evacuation-table th.print-only")).to_be_visible()
