"""Browser tests: Playwright drives Debian's Chromium against a real ``phonelocker demo``.

One demo (kiosk on the emulated reader and pins, dashboard on waitress) per
test module and xdist worker, on free ports. Each test uses its own pupils,
so the tests do not depend on each other's order.

Without /usr/bin/chromium these tests skip, unless $CI is set: there a
missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

import pytest

from kiosk.devtools.demo import DEMO_PUPILS
from web.demoprocess import DemoProcess

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
CARDS = {name: uid for name, _year, _class, uid in DEMO_PUPILS}


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install chromium (apt-get install chromium)")
    pytest.skip("chromium not installed: apt-get install chromium")


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory, browser):
    with DemoProcess(tmp_path_factory.mktemp("demo")) as process:
        yield process


@pytest.fixture
def page(browser, demo):
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    # A CSP violation or a script error shows up here.
    assert [e for e in errors if "403" not in e and "404" not in e] == []


def log_in(page, demo, username: str):
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", demo.passwords[username])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Today")
    return page


def test_log_in_and_see_a_tap_without_reloading(page, demo):
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    row = page.locator("tr", has_text="Ben Carter")
    expect(row).to_contain_text("not handed in")
    page.evaluate("window.stillTheSamePage = true")
    demo.tap(CARDS["Ben Carter"])
    expect(row).to_contain_text("in locker since", timeout=2000)
    expect(page.locator('[data-section="lockers"]')).to_contain_text(CARDS["Ben Carter"])
    assert page.evaluate("window.stillTheSamePage") is True


def test_emergency_unlock_is_done_and_seen_unlocked(page, demo):
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    page.click("nav >> text=Office")
    page.select_option("select[name=target]", label="Class 6K locker, bay 1")
    page.fill("input[name=reason]", "fire drill: phones out")
    page.click("button:has-text('Unlock')")
    status = page.locator("[data-command]")
    expect(status).to_contain_text("done", timeout=2000)
    expect(status).to_contain_text("unlocked")
    expect(page.locator('[data-section="lockers"] [data-bay="1"]')).to_contain_text(
        "unlocked", timeout=3000)
    page.goto("/history?kind=override")
    expect(page.locator("table")).to_contain_text("fire drill: phones out")
    expect(page.locator("table")).to_contain_text("office")


def test_enrol_a_card_by_tapping(page, demo):
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    page.click("nav >> text=Pupils")
    page.click("text=Isla Murphy")
    page.click("button:has-text('Enrol a card by tapping')")
    status = page.locator("[data-command]")
    expect(status).to_contain_text("waiting for a card", timeout=2000)
    uid = "04" + secrets.token_hex(6).upper()
    demo.tap(uid)
    expect(status).to_contain_text(f"card {uid} assigned to Isla Murphy", timeout=2000)
    expect(page.locator("#cards table")).to_contain_text(uid, timeout=3000)  # after the reload


def test_import_a_csv(page, demo, tmp_path):
    from playwright.sync_api import expect

    csv_file = tmp_path / "pupils.csv"
    csv_file.write_text("UPN,Forename,Surname,Year,Class\nB1,Zara,Ahmed,6,6K\n"
                        "B2,Yusuf,Ali,6,6K\n", encoding="utf-8")
    log_in(page, demo, "office")
    page.goto("/pupils/import")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("button:has-text('Preview')")
    expect(page.locator("main")).to_contain_text("2 created, 0 updated, 0 unchanged")
    page.click("button:has-text('Confirm import')")
    expect(page.locator(".flash")).to_contain_text("Imported: 2 created")
    expect(page.locator("table")).to_contain_text("Zara Ahmed")
    assert "Zara Ahmed" in demo.phonelocker("pupils", "list").stdout


def test_a_teachers_view_hides_other_classes(page, demo):
    from playwright.sync_api import expect

    log_in(page, demo, "teacher6k")
    main = page.locator("main")
    expect(main).to_contain_text("Class 6K")
    expect(main).to_contain_text("Amara Okafor")
    expect(main).not_to_contain_text("Class 5R")
    expect(main).not_to_contain_text("Grace Mensah")
    expect(page.locator("nav")).not_to_contain_text("Office")
    page.click("nav >> text=Pupils")
    expect(page.locator("table")).not_to_contain_text("Harry Lee")
    page.goto("/office")
    expect(page.locator("h1")).to_contain_text("Not allowed")


def test_emulator_panel_taps_a_card(page, demo):
    from playwright.sync_api import expect

    log_in(page, demo, "office")
    page.click("nav >> text=Emulator")
    page.click("button:has-text('Amara Okafor')")
    expect(page.locator("#toast")).to_contain_text("tapped")
    locker = page.locator('[data-section="locker"]')
    expect(locker).to_contain_text(CARDS["Amara Okafor"], timeout=4000)
    expect(locker).to_contain_text("handed in")  # the last tap, in words
    started = time.monotonic()
    page.click("nav >> text=Today")
    expect(page.locator("tr", has_text="Amara Okafor")).to_contain_text("in locker since")
    assert time.monotonic() - started < 5


def test_locker_screen_tells_a_refused_pupil_why(page, demo):
    # The Pi's own screen: Chromium on the same machine opens it without signing in.
    from playwright.sync_api import expect

    page.goto("/screen")
    panel = page.locator("[data-section=screen] .screen-panel")
    expect(panel).to_have_attribute("data-tone", re.compile(r"idle|ok|refused"))
    demo.tap(CARDS["Harry Lee"])  # Year 5, not approved
    expect(panel).to_have_attribute("data-tone", "refused", timeout=2000)
    expect(panel).to_contain_text("Year 5 phones need agreement from the school first")
    expect(page.locator("body")).not_to_contain_text("Harry")
