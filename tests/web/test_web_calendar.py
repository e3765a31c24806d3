"""The calendar page, closing early, the Today banner, /screen, and the office's open-all."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from kiosk.calendar.days import entry, set_day
from kiosk.store.models import CalendarDay, Command, Event, KioskStatus

from .conftest import LOCKER, PASSWORD, XSS_ESCAPED, local_clock

# Friday 27 November 2026, 14:00 in London (GMT)
FRIDAY_2PM = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def calendar_rows(db) -> list[tuple]:
    with db.session() as session:
        return [(d.on_date, d.closed, d.collect_from, d.reason)
                for d in session.scalars(select(CalendarDay).order_by(CalendarDay.on_date))]


def events(db, kind: str) -> list[Event]:
    with db.session() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def test_only_office_and_admin_keep_the_calendar(as_user, client):
    assert client.get("/calendar").status_code == 302  # to the login page
    teacher = as_user("teacher6k")
    assert teacher.get("/calendar").status_code == 403
    assert teacher.post("/calendar/set", data={"date": "2026-12-18", "mode": "closed",
                                              "reason": "x"}).status_code == 403
    assert teacher.post("/calendar/close-early", data={"reason": "x"}).status_code == 403
    assert 'href="/calendar"' not in teacher.get("/").get_data(as_text=True)


def test_office_sets_lists_and_clears_a_date(as_user, db):
    office = as_user("office")
    page = office.get("/calendar").get_data(as_text=True)
    assert "No dates set" in page and 'href="/calendar"' in page
    done = office.post("/calendar/set", data={
        "date": "2099-12-18", "mode": "collect_from", "collect_from": "13:30",
        "reason": "last day of term"}, follow_redirects=True).get_data(as_text=True)
    assert "done: Friday 18 December 2099: collection from 13:30 (last day of term)" in done
    assert "last day of term" in office.get("/calendar").get_data(as_text=True)
    office.post("/calendar/set", data={"date": "2099-12-21", "mode": "closed",
                                       "collect_from": "09:00", "reason": "INSET day"})
    assert calendar_rows(db) == [
        (date(2099, 12, 18), False, time(13, 30), "last day of term"),
        (date(2099, 12, 21), True, None, "INSET day"),
    ]
    office.post("/calendar/clear", data={"date": "2099-12-18"})
    assert [row[0] for row in calendar_rows(db)] == [date(2099, 12, 21)]
    (cleared,) = events(db, "calendar_cleared")
    assert cleared.actor == "office"


@pytest.mark.parametrize(("form", "message"), [
    ({"date": "2099-02-30", "mode": "closed", "reason": "x"}, "is not a date"),
    ({"date": "2099-12-18", "mode": "collect_from", "collect_from": "", "reason": "x"},
     "is not a time HH:MM"),
    ({"date": "2099-12-18", "mode": "collect_from", "collect_from": "13:30", "reason": " "},
     "a reason is required"),
    ({"date": "", "mode": "closed", "reason": "x"}, "is not a date"),
])
def test_a_bad_form_is_a_message_not_a_500(as_user, db, form, message):
    response = as_user("office").post("/calendar/set", data=form, follow_redirects=True)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert calendar_rows(db) == []


def test_csv_import_lists_each_mistake_and_changes_nothing(as_user, db):
    office = as_user("office")
    bad = b"date,closed,collect_from,reason\n2099-12-18,no,13:30,ok\n2099-12-19,maybe,,x\n\xff"
    response = office.post("/calendar/import", data={"file": (io.BytesIO(bad), "year.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "the file is not UTF-8 text" in response.get_data(as_text=True)
    bad = b"2099-12-18,no,13:30,ok\n2099-12-19,maybe,,x\n2099-12-20,yes,10:00,y\n"
    page = office.post("/calendar/import", data={"file": (io.BytesIO(bad), "year.csv")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "Nothing imported: 2 problem(s) in the file" in page
    assert "line 2: closed must be yes or no" in page and "line 3: a closed day" in page
    assert calendar_rows(db) == []
    good = b"2099-12-18,no,13:30,last day\r\n2099-12-21,yes,,INSET day\r\n"
    done = office.post("/calendar/import", data={"file": (io.BytesIO(good), "year.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "done: 2 date(s) imported." in done.get_data(as_text=True)
    assert len(calendar_rows(db)) == 2
    no_file = office.post("/calendar/import", data={}, follow_redirects=True)
    assert "Choose a CSV file first." in no_file.get_data(as_text=True)


def test_closing_early_shows_on_every_teachers_today(make_app, db, ids):
    app = make_app(CLOCK=local_clock(13, 5))
    office = app.test_client()
    office.post("/login", data={"username": "office", "password": PASSWORD})
    before = office.get("/api/today").get_json()
    assert before["collection_time"] == "15:15" and before["after_collection"] is False
    done = office.post("/calendar/close-early", data={"reason": "heating failure"},
                       follow_redirects=True).get_data(as_text=True)
    assert "done: school closing early — phones may be collected from 13:05" in done
    (event,) = events(db, "closing_early")
    assert event.actor == "office" and "heating failure" in event.reason
    teacher = app.test_client()
    teacher.post("/login", data={"username": "teacher5r", "password": PASSWORD})
    data = teacher.get("/api/today").get_json()
    assert data["collection_time"] == "13:05" and data["after_collection"] is True
    banner = "School closing early — collection from 13:05 (heating failure)"
    assert banner in data["html"]["calendar"]
    assert banner in teacher.get("/").get_data(as_text=True)
    again = office.post("/calendar/close-early", data={"reason": "x"}, follow_redirects=True)
    assert "Not done: collection is already open today (from 13:05)" in again.get_data(
        as_text=True)


def test_a_closed_day_has_nobody_not_handed_in(make_app, db):
    moment = local_clock(10, 0)
    with db.session() as session:
        set_day(session, entry(moment().date(), closed=True, collect_from=None,
                               reason="INSET day"), by="office", now=moment())
        session.commit()
    client = make_app(CLOCK=moment).test_client()
    client.post("/login", data={"username": "teacher6k", "password": PASSWORD})
    data = client.get("/api/today").get_json()
    assert data["counts"]["not_handed_in"] == 0 and data["not_handed_in"] == []
    assert "School closed: INSET day" in data["html"]["calendar"]
    page = client.get("/").get_data(as_text=True)
    assert "no school today" in page and "School closed: INSET day" in page


@pytest.fixture
def screen_at_friday_2pm(make_app, db):
    app = make_app(CLOCK=lambda: FRIDAY_2PM)
    with db.session() as session:
        status = KioskStatus(locker_id=LOCKER, updated_at=FRIDAY_2PM.replace(tzinfo=None),
                             reader_ok=True, hardware_json="{}",
                             last_tap_at=FRIDAY_2PM.replace(tzinfo=None) - timedelta(seconds=1),
                             last_tap_result="refused: too_early")
        session.merge(status)
        session.commit()
    return app.test_client()


def test_the_screen_follows_the_calendar(screen_at_friday_2pm, db):
    client = screen_at_friday_2pm
    assert client.get("/api/screen").get_json()["message"] == "Collection opens at 15:15"
    with db.session() as session:
        set_day(session, entry(FRIDAY_2PM.date(), closed=False, collect_from=time(14, 30),
                               reason="last day of term"), by="office", now=FRIDAY_2PM)
        session.commit()
    assert client.get("/api/screen").get_json()["message"] == "Collection opens at 14:30"
    with db.session() as session:
        status = session.get(KioskStatus, LOCKER)
        status.last_tap_at = FRIDAY_2PM.replace(tzinfo=None) - timedelta(minutes=5)
        session.commit()
    assert client.get("/api/screen").get_json()["detail"] == (
        "Phones can be collected from 14:30")


# --- open every bay -------------------------------------------------------------------------


def test_open_all_needs_the_typed_words_and_a_fresh_heartbeat(as_user, db, heartbeat):
    office = as_user("office")
    heartbeat()
    for typed in ("", "open", "OPEN EVERYTHING"):
        page = office.post("/office/open-all", data={"reason": "fire", "confirm": typed,
                                                     "seconds": "60"}, follow_redirects=True)
        assert "Nothing was opened: type OPEN ALL" in page.get_data(as_text=True)
    heartbeat(age_seconds=60)
    page = office.post("/office/open-all", data={"reason": "fire", "confirm": "OPEN ALL"},
                       follow_redirects=True)
    assert "kiosk offline" in page.get_data(as_text=True)
    assert events(db, "open_all") == []
    with db.session() as session:
        assert session.scalars(select(Command)).all() == []


def test_open_all_records_the_phones_and_shows_a_printable_list(as_user, db, heartbeat, ids):
    office = as_user("office")
    heartbeat()
    page = office.get("/office").get_data(as_text=True)
    assert "Type OPEN ALL to confirm" in page
    response = office.post("/office/open-all", data={"reason": "fire alarm",
                                                     "confirm": " open  all ", "seconds": "30"})
    assert response.status_code == 302
    (event,) = events(db, "open_all")
    assert response.headers["Location"].startswith(f"/office/open-all/{event.id}?commands=")
    assert event.actor == "office" and event.reason == "fire alarm (1 phone(s) in the lockers)"
    assert json.loads(event.details)["held"] == [
        {"pupil_id": ids["xss"], "locker": LOCKER, "bay": 1}]
    with db.session() as session:
        (command,) = session.scalars(select(Command)).all()
        assert (command.kind, command.locker_id, command.bay, command.seconds) == (
            "unlock", LOCKER, None, 30)
    listing = office.get(response.headers["Location"]).get_data(as_text=True)
    assert "Hand back at the assembly point" in listing
    assert XSS_ESCAPED in listing and "<td>6K</td>" in listing
    assert "sent to the kiosk" in listing  # the command's live status
    assert "whose phones were inside" in office.get("/office").get_data(as_text=True)
    assert office.get(f"/office/open-all/{event.id + 999}").status_code == 404
    teacher_status = as_user("teacher6k").get(f"/office/open-all/{event.id}").status_code
    assert teacher_status == 403
