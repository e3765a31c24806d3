"""Browser test: the office adds an exception, Today says "keeps phone", the office ends it.

Playwright drives Debian's Chromium against a real ``phonelocker demo`` (its own,
for this module), as in test_web_browser.py.
"""

from __future__ import annotations

import pytest

from .test_web_browser import browser, demo, log_in, page  # noqa: F401 - fixtures
from .test_web_forms_browser import pick_pupil

pytestmark = pytest.mark.browser


def test_office_adds_and_ends_an_exception(page, demo):  # noqa: F811
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    page.click("nav >> text=Exceptions")
    expect(page.locator("h1")).to_contain_text("Exceptions")
    pick_pupil(page, "exception-pupil", "pat", "Dev Patel (6K)")
    page.select_option("select[name=kind]", label="medical")
    page.fill("input[name=reason]", "glucose monitor runs on his phone")
    page.fill("input[name=agreed_by]", "Mrs Patel, headteacher")
    page.click("button:has-text('Add exception')")
    expect(page.locator(".flash-ok")).to_contain_text("Dev Patel keeps their phone (medical)")
    in_force = page.locator("#in_force")
    expect(in_force).to_contain_text("glucose monitor runs on his phone")

    page.click("nav >> text=Today")
    row = page.locator("tr", has_text="Dev Patel")
    expect(row).to_contain_text("keeps phone: medical")
    expect(page.locator("#not-handed-in").locator("..")).not_to_contain_text("Dev Patel")

    page.click("nav >> text=Exceptions")
    end_form = page.locator("tr", has_text="Dev Patel").locator("form")
    end_form.locator("input[name=reason]").fill("reviewed with parents")
    end_form.locator("button:has-text('End')").click()  # the confirm dialog is accepted
    expect(page.locator(".flash-ok")).to_contain_text("the exception for Dev Patel has ended")
    expect(page.locator("#ended")).to_contain_text("reviewed with parents")

    page.click("nav >> text=Today")
    expect(page.locator("tr", has_text="Dev Patel")).to_contain_text("not handed in")
    expect(page.locator("#not-handed-in").locator("..")).to_contain_text("Dev Patel")
    page.goto("/history?kind=exception_ended")
    expect(page.locator("table")).to_contain_text("reviewed with parents")
