"""Browser test: a big school's Today opens a collapsed class in place, and keeps it open
while a tap in that class arrives. Playwright drives Debian's Chromium against a real
``phonelocker web`` on a school built by the bench's own builder (320 pupils: more than
Today shows open).

Without /usr/bin/chromium this skips, unless $CI is set (see test_web_browser.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from kiosk.devtools.bench_school import (
    BENCH_PASSWORD,
    LOCKER_ID,
    build_school,
    free_port,
    web_server,
)
from web import today

from .test_web_browser import browser, require_chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

PUPILS = 320  # above today.EXPAND_PUPILS: the classes start collapsed
CLASSES = 4


@pytest.fixture(scope="module")
def big_school(tmp_path_factory, browser):  # noqa: F811
    require_chromium()
    assert today.EXPAND_PUPILS < PUPILS
    folder = tmp_path_factory.mktemp("big-school")
    port = free_port()
    school = build_school(folder, pupils=PUPILS, classes=CLASSES, days=1, port=port)
    with web_server(school, port, folder / "web.log"):
        yield school, f"http://127.0.0.1:{port}"


def _tap(school, class_name: str) -> int:
    """A hand-in or a collection in ``class_name``, recorded as the kiosk records it."""
    from sqlalchemy import select

    from kiosk.store.db import Database
    from kiosk.store.events import Kind, record_event
    from kiosk.store.models import Holding, Pupil
    from kiosk.timeutil import naive_utc

    db = Database(school.url)
    try:
        with db.session() as session:
            pupil_id = session.scalars(select(Pupil.id).where(Pupil.class_name == class_name)
                                       .order_by(Pupil.id)).first()
            holding = session.get(Holding, pupil_id)
            at = naive_utc(datetime.now(UTC))
            if holding is not None:
                record_event(session, Kind.COLLECT, at=at, pupil_id=pupil_id,
                             locker_id=LOCKER_ID, bay=1)
                session.delete(holding)
            else:
                deposit = record_event(session, Kind.DEPOSIT, at=at, pupil_id=pupil_id,
                                       locker_id=LOCKER_ID, bay=1)
                session.add(Holding(pupil_id=pupil_id, locker_id=LOCKER_ID, bay=1,
                                    since=deposit.at, event_id=deposit.id))
            session.commit()
    finally:
        db.dispose()
    return pupil_id


def test_a_collapsed_class_opens_in_place_and_stays_open_through_a_tap(browser, big_school):  # noqa: F811
    from playwright.sync_api import expect

    school, url = big_school
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        page.goto("/login")
        page.fill("input[name=username]", "bench-office")
        page.fill("input[name=password]", BENCH_PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Today")
        assert page.locator("tr[data-pupil]").count() == 0  # every class collapsed
        page.evaluate("window.stillTheSamePage = true")

        section = page.locator('[data-section="class:5A"]')
        section.get_by_role("link", name="Class 5A").click()
        expect(section.locator("tr[data-pupil]")).to_have_count(PUPILS // CLASSES)
        expect(page).to_have_url(re.compile(r"/$"))  # opened in place, not followed
        assert page.locator("tr[data-pupil]").count() == PUPILS // CLASSES  # that class only

        pupil_id = _tap(school, "5A")
        row = section.locator(f'tr[data-pupil="{pupil_id}"]')
        before = row.inner_text()
        # The poll redraws 5A (its line, collapsed); the page opens it again.
        expect(row).not_to_have_text(before, timeout=10000)
        expect(section.locator("tr[data-pupil]")).to_have_count(PUPILS // CLASSES)
        assert page.evaluate("window.stillTheSamePage") is True
        assert errors == []
    finally:
        context.close()
