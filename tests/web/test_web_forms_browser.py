"""Browser tests of the office forms and the phone-sized menu (issue 11 §5).

Playwright drives Debian's Chromium against a real ``phonelocker demo`` (its own, for this
module), as in test_web_browser.py: type part of a name and pick the pupil, authorise an
early release, hand a phone back, an emergency unlock that says when it relocks, and every
menu link within reach at 390 px.
"""

from __future__ import annotations

import re

import pytest

from .test_web_browser import (  # noqa: F401 - fixtures
    CARDS,
    browser,
    demo,
    log_in,
    page,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
MENU = ["Today", "Pupils", "Exceptions", "Office", "Calendar", "History", "Reports", "Admin",
        "Emulator"]


@pytest.fixture
def phone_page(browser, demo):  # noqa: F811
    context = browser.new_context(base_url=demo.url, viewport=PHONE, is_mobile=True,
                                  has_touch=True)
    phone = context.new_page()
    phone.set_default_timeout(5000)
    yield phone
    context.close()


def pick_pupil(tab, field: str, typed: str, label: str) -> None:
    """Type part of a name, wait for the suggestion, pick it (as choosing from the list does)."""
    from playwright.sync_api import expect

    picker = tab.locator(f"#{field}")
    picker.press_sequentially(typed, delay=20)
    expect(tab.locator(f"#{field}-options option[value='{label}']")).to_have_count(1)
    picker.fill(label)
    hidden = picker.locator("xpath=ancestor::form").locator("[data-pupil-id]")
    expect(hidden).to_have_value(re.compile(r"^[0-9]+$"))


def test_every_menu_link_is_reachable_on_a_phone(phone_page, demo):  # noqa: F811
    from playwright.sync_api import expect

    log_in(phone_page, demo, "admin")
    nav = phone_page.locator("nav.nav")
    for name in MENU:
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
            f"{name} is cut off: {box}")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways"
    for name in ("Emulator", "Admin"):
        nav.get_by_role("link", name=name, exact=True).click()
        expect(phone_page.locator("h1")).to_contain_text(name if name == "Emulator" else "Staff")
        expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute(
            "aria-current", "page")


def test_office_flows_pick_release_hand_back_and_unlock(page, demo):  # noqa: F811
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    page.click("nav >> text=Office")

    # Early release for a pupil picked by typing part of the surname; no phone in the locker.
    pick_pupil(page, "release-pupil", "cart", "Ben Carter (6K)")
    page.locator("form[action='/office/release'] input[name=reason]").fill("dentist at 14:00")
    page.click("button:has-text('Authorise')")
    expect(page.locator(".flash-ok")).to_contain_text("Ben Carter may collect")
    expect(page.locator(".flash-warn")).to_contain_text(
        "Ben Carter's phone is not in a locker today")

    # A phone in the locker, handed back by the office.
    demo.tap(CARDS["Dev Patel"])
    expect(page.locator("#handback-pupil")).to_have_count(0)  # no phone held until now
    page.reload()
    expect(page.locator("#handback-pupil")).to_be_visible(timeout=3000)
    pick_pupil(page, "handback-pupil", "dev", "Dev Patel (6K)")
    handback = page.locator("form[action='/office/handback']")
    handback.locator("input[name=reason]").fill("mum collecting for a funeral")
    handback.locator("button:has-text('Record')").click()
    expect(page.locator(".flash-ok")).to_contain_text("Dev Patel's phone recorded as handed back")
    page.click("nav >> text=Today")
    expect(page.locator("tr", has_text="Dev Patel")).to_contain_text(
        re.compile(r"handed back by the office at \d\d:\d\d"))

    # An emergency unlock says when it locks again, to the second.
    page.click("nav >> text=Office")
    page.select_option("select[name=target]", label="Class 6K locker, bay 1")
    page.locator("form[action='/office/unlock'] input[name=reason]").fill("medical: phone needed")
    page.click("button:has-text('Unlock')")
    expect(page.locator("[data-command]")).to_contain_text(
        re.compile(r"done: .*unlocked for 10 s — relocks at \d\d:\d\d:\d\d"), timeout=3000)
