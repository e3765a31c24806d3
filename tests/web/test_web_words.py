"""No internal code reaches a person on the dashboard: pages, the lockers panel, History
and its CSV say what happened in the words staff use (kiosk/reports/words.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import time, timedelta
from html import unescape

from kiosk.calendar.days import entry, set_day
from kiosk.school.pupils import add_pupil
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Holding, KioskStatus
from kiosk.timeutil import naive_utc

from .conftest import LOCKER, SEED_DAY, SEED_TIME, local_clock, login

#: codes that must not be read on a page (as text, not inside an attribute)
CODES = ("year5_not_approved", "too_early", "unknown_card", "clock?", f"{LOCKER} / ",
         ">None<", ">deposit<", ">reopen<")


def shown_text(html: str) -> str:
    """The page's text as a person reads it: tags (and their attributes) removed."""
    return re.sub(r"<[^>]*>", " ", html)


def table(page: str) -> str:
    return page[page.index("<table"):page.index("</table>")]


def school_day(day) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def add_events(db, ids) -> None:
    """A too-early refusal, an unknown card and a reopen recorded while the clock was unset,
    on the seeded day; the seeded day's collection time set to 14:30 by the calendar."""
    at = naive_utc(SEED_TIME)
    with db.session() as session:
        set_day(session, entry(SEED_DAY, closed=False, collect_from=time(14, 30),
                               reason="early finish"), by="office", now=SEED_TIME)
        record_event(session, Kind.REFUSED, at=at, pupil_id=ids["amara"], locker_id=LOCKER,
                     reason="too_early")
        record_event(session, Kind.REFUSED, at=at, card_uid="04DEADBEEF0001", locker_id=LOCKER,
                     reason="unknown_card")
        record_event(session, Kind.REOPEN, at=at, pupil_id=ids["xss"], locker_id=LOCKER, bay=1,
                     reason="repeat 1", clock_suspect=True)
        session.commit()


def test_history_says_what_happened_in_words(make_app, db, ids):
    add_events(db, ids)
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "office")
    page = table(client.get("/history").get_data(as_text=True))
    text = shown_text(page)
    assert "refused — collection opens 14:30" in text  # the calendar's time that day
    assert "refused — card not recognised" in text
    assert "refused — Year 5 without agreement" in text
    assert "handed in" in text and "opened again" in text and "clock not yet set" in text
    assert "Test locker, bay 1" in text
    for code in CODES:
        assert code not in page, code


def test_history_csv_has_words_beside_the_codes(make_app, db, ids):
    add_events(db, ids)
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "office")
    text = client.get("/history.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = {(row["kind"], row["reason"]): row for row in csv.DictReader(io.StringIO(text))}
    assert rows[("refused", "too_early")]["what"] == "refused — collection opens 14:30"
    assert rows[("refused", "unknown_card")]["what"] == "refused — card not recognised"
    assert rows[("refused", "unknown_card")]["where"] == "Test locker"
    assert rows[("reopen", "repeat 1")]["where"] == "Test locker, bay 1"
    assert rows[("reopen", "repeat 1")]["locker"] == LOCKER  # the code columns are kept


def test_pupil_page_history_in_words(as_user, db, ids):
    add_events(db, ids)
    page = as_user("office").get(f"/pupils/{ids['amara']}").get_data(as_text=True)
    history = shown_text(page[page.index('id="history-head"'):])
    assert "refused — collection opens 14:30" in history and "pupil added" in history
    assert "too_early" not in history


def test_lockers_panel_says_the_last_tap_in_words(as_user, db, heartbeat):
    heartbeat()
    with db.session() as session:
        status = session.get(KioskStatus, LOCKER)
        status.last_tap_result = "refused: card_revoked"
        session.commit()
    page = as_user("office").get("/").get_data(as_text=True)
    panel = page[page.index('id="lockers-head"'):]
    assert "refused — card cancelled" in panel and "card_revoked" not in panel


def test_today_heading_is_a_school_date(make_app):
    client = make_app(CLOCK=local_clock(9)).test_client()
    login(client, "office")
    page = client.get("/").get_data(as_text=True)
    assert f'data-section="date">{school_day(SEED_DAY)}</span>' in page
    assert SEED_DAY.isoformat() not in shown_text(page)


def test_overnight_phone_says_the_day_it_went_in(make_app, db, ids):
    with db.session() as session:
        holding = session.get(Holding, ids["xss"])
        holding.since -= timedelta(days=1)
        session.commit()
    client = make_app(CLOCK=local_clock(9)).test_client()
    login(client, "office")
    page = client.get("/").get_data(as_text=True)
    day_before = SEED_DAY - timedelta(days=1)
    words = school_day(day_before) + ("" if day_before.year == SEED_DAY.year
                                      else f" {day_before.year}")
    assert f"in locker since {words} " in page


def test_action_lists_are_by_surname(make_app, db):
    with db.session() as session:
        add_pupil(session, name="Zoe Adams", year=6, class_name="6K", actor="test",
                  now=SEED_TIME)
        session.commit()
    client = make_app(CLOCK=local_clock(9)).test_client()
    login(client, "office")
    page = client.get("/").get_data(as_text=True)
    section = page[page.index('id="not-handed-in"'):]
    section = section[:section.index("</section>")]
    names = re.findall(r">(Zoe Adams|Grace Mensah|Amara Okafor)</a>", section)
    assert names == ["Zoe Adams", "Grace Mensah", "Amara Okafor"]  # Adams, Mensah, Okafor


def test_history_pupil_picker_is_by_surname(as_user):
    page = as_user("office").get("/history").get_data(as_text=True)
    picker = page[page.index('name="pupil"'):]
    picker = picker[:picker.index("</select>")]
    five_r = re.findall(r">(Harry Lee|Grace Mensah|Isla Murphy) \(5R\)<", picker)
    assert five_r == ["Harry Lee", "Grace Mensah", "Isla Murphy"]  # Lee, Mensah, Murphy


def test_history_says_when_it_swapped_the_dates(make_app):
    client = make_app(CLOCK=local_clock(9)).test_client()
    login(client, "office")
    year = SEED_DAY.year
    page = unescape(client.get(f"/history?from={year}-11-30&to={year}-11-01").get_data(
        as_text=True))
    assert "Showing 1–30 November: 'to' was before 'from', so they were swapped." in page
    assert f'value="{year}-11-01"' in page  # the form shows the range it used
    page = client.get(f"/history?from={year}-11-01&to={year}-11-30").get_data(as_text=True)
    assert "Showing 1–30 November." in page and "swapped" not in page


def test_teachers_what_filter_lists_only_kinds_they_can_see(as_user):
    client = as_user("teacher6k")
    page = client.get("/history").get_data(as_text=True)
    options = re.findall(r'<option value="([a-z_0-9]+)"', page[page.index('name="kind"'):])
    assert "deposit" in options and "refused" in options and "override" in options
    assert not {"login", "login_failed", "user_created", "import", "purge",
                "arrangement_added", "calendar_set", "kiosk_started"} & set(options)
    response = client.get("/history?kind=login")
    assert response.status_code == 400 and "kind must be one of deposit" in response.text


def test_office_what_filter_lists_every_kind_in_words(as_user):
    page = as_user("office").get("/history").get_data(as_text=True)
    select = page[page.index('name="kind"'):]
    select = select[:select.index("</select>")]
    assert '<option value="login" >signed in</option>' in select
    assert '<option value="office_return" >handed back by the office</option>' in select
    assert len(re.findall("<option value=\"[a-z]", select)) == len(list(Kind))


def test_calendar_and_exception_dates_read_like_a_schools(make_app, db, ids):
    inset = SEED_DAY + timedelta(days=3)
    with db.session() as session:
        set_day(session, entry(inset, closed=True, collect_from=None, reason="INSET day"),
                by="office", now=SEED_TIME)
        session.commit()
    client = make_app(CLOCK=local_clock(9)).test_client()
    login(client, "office")
    words = school_day(inset) + ("" if inset.year == SEED_DAY.year else f" {inset.year}")
    page = client.get("/calendar").get_data(as_text=True)
    assert f"<td>{words}</td>" in page
