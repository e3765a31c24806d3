"""kiosk.calendar.days and the status view: set, clear, import, closing early, closed days.

Every ``now`` here is passed in (the domain reads no clock), so these pass at any
wall-clock time and under PHONELOCKER_TEST_NOW.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from kiosk.calendar.days import (
    CalendarImportError,
    clear_day,
    close_early,
    entry,
    import_days,
    list_days,
    parse_csv,
    set_day,
)
from kiosk.errors import ActionError
from kiosk.inputs import InputError
from kiosk.school.pupils import add_pupil
from kiosk.school.queries import pupil_states
from kiosk.store.events import Kind, record_event
from kiosk.store.models import CalendarDay, Event, Holding
from kiosk.timeutil import naive_utc

# Tuesday 1 December 2026, 13:05:42 in London
NOW = datetime(2026, 12, 1, 13, 5, 42, tzinfo=UTC)
TODAY = date(2026, 12, 1)


def kinds(session) -> list[str]:
    return [e.kind for e in session.scalars(select(Event).order_by(Event.id))]


def test_set_replace_and_clear_are_audited(db):
    with db.session() as session:
        set_day(session, entry(TODAY, closed=False, collect_from=time(13, 30),
                               reason="last day of term"), by="office", now=NOW)
        set_day(session, entry(TODAY, closed=True, collect_from=None, reason="snow day"),
                by="office", now=NOW)
        session.commit()
        (day,) = list_days(session)
        assert (day.closed, day.collect_from, day.reason) == (True, None, "snow day")
        clear_day(session, TODAY, by="office", now=NOW)
        session.commit()
        assert list_days(session) == []
        assert kinds(session) == ["calendar_set", "calendar_set", "calendar_cleared"]
        cleared = session.scalars(select(Event).where(Event.kind == "calendar_cleared")).one()
        assert cleared.actor == "office" and "Tuesday 1 December 2026" in cleared.reason
        with pytest.raises(ActionError, match="nothing is set"):
            clear_day(session, TODAY, by="office", now=NOW)


@pytest.mark.parametrize(
    ("closed", "collect_from", "reason", "message"),
    [
        (True, time(13, 0), "x", "closed day has no collection time"),
        (False, None, "x", "either closed or a collection time"),
        (True, None, "  ", "reason is required"),
        (True, None, "x" * 501, "too long"),
        (True, None, "bad\x1b[31m", "control characters"),
    ],
)
def test_a_bad_entry_is_refused_with_a_message(closed, collect_from, reason, message):
    with pytest.raises(InputError, match=message):
        entry(TODAY, closed=closed, collect_from=collect_from, reason=reason)


def test_close_early_sets_this_minute_and_is_audited(db, config):
    with db.session() as session:
        day = close_early(session, config.policy, reason="heating failure", by="office",
                          now=NOW)
        session.commit()
        assert (day.on_date, day.collect_from, day.closing_early) == (TODAY, time(13, 5), True)
        event = session.scalars(select(Event).where(Event.kind == Kind.CLOSING_EARLY)).one()
        assert event.actor == "office"
        assert event.reason == "school closing early: collection from 13:05 (heating failure)"
        # Once collection is open, closing early again is refused: nothing to do.
        with pytest.raises(ActionError, match="already open today \\(from 13:05\\)"):
            close_early(session, config.policy, reason="again", by="office", now=NOW)


def test_close_early_refused_after_collection_time_and_on_a_closed_day(db, config):
    after = datetime(2026, 12, 1, 15, 20, tzinfo=UTC)
    with db.session() as session:
        with pytest.raises(ActionError, match="already open today \\(from 15:15\\)"):
            close_early(session, config.policy, reason="snow", by="office", now=after)
        set_day(session, entry(TODAY, closed=True, collect_from=None, reason="INSET day"),
                by="office", now=NOW)
        with pytest.raises(ActionError, match="already marked closed"):
            close_early(session, config.policy, reason="snow", by="office", now=NOW)


def test_close_early_uses_local_time_in_summer(db, config):
    # 12:40 UTC in July is 13:40 in London
    with db.session() as session:
        day = close_early(session, config.policy, reason="heatwave", by="office",
                          now=datetime(2027, 7, 6, 12, 40, 59, tzinfo=UTC))
        assert (day.on_date, day.collect_from) == (date(2027, 7, 6), time(13, 40))


def test_csv_import_is_all_or_nothing_with_every_mistake_by_line(db):
    good = (b"\xef\xbb\xbfdate,closed,collect_from,reason\n"
            b"2026-12-18,no,13:30,last day of term\n\n2027-01-04,yes,,INSET day\n")
    entries = parse_csv(good)
    assert [(e.on_date, e.closed, e.collect_from) for e in entries] == [
        (date(2026, 12, 18), False, time(13, 30)), (date(2027, 1, 4), True, None)]
    bad = (
        "2026-12-18,no,13:30,last day\n"
        "2026-02-30,yes,,x\n"
        "2026-12-19,maybe,,x\n"
        "2026-12-20,no,25:00,x\n"
        "2026-12-21,yes,,\n"
        "2026-12-18,yes,,again\n"
        "too,few\n"
    )
    with pytest.raises(CalendarImportError) as caught:
        parse_csv(bad)
    errors = caught.value.errors
    assert [e.split(":")[0] for e in errors] == [
        "line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "already on line 1" in errors[4]
    with pytest.raises(CalendarImportError, match="not UTF-8"):
        parse_csv(b"2026-12-18,no,13:30,caf\xe9\n")
    with pytest.raises(CalendarImportError, match="no days"):
        parse_csv(b"date,closed,collect_from,reason\n")
    with db.session() as session:
        assert import_days(session, entries, by="office", now=NOW) == 2
        session.commit()
        assert [d.on_date for d in session.scalars(select(CalendarDay))] == [
            date(2026, 12, 18), date(2027, 1, 4)]


def _school(session):
    amara = add_pupil(session, name="Amara Okafor", year=6, class_name="6K",
                      card_uid="04A1B2C3D4E5F6", actor="test")
    held = add_pupil(session, name="Ben Adams", year=6, class_name="6K",
                     card_uid="04A1B2C3D4E5F7", actor="test")
    deposit = record_event(session, Kind.DEPOSIT, pupil_id=held.id, locker_id="l", bay=1,
                           at=naive_utc(NOW))
    session.add(Holding(pupil_id=held.id, locker_id="l", bay=1, since=naive_utc(NOW),
                        event_id=deposit.id))
    session.flush()
    return amara.id, held.id


def test_status_follows_the_calendar(db, config):
    with db.session() as session:
        amara, held = _school(session)
        plain = pupil_states(session, config, now=NOW)
        assert plain["collection_time"] == "15:15" and plain["calendar"] is None
        assert {p["id"]: p["state"] for p in plain["pupils"]} == {
            amara: "not_handed_in", held: "in_locker"}
        close_early(session, config.policy, reason="snow", by="office", now=NOW)
        early = pupil_states(session, config, now=NOW)
        assert early["collection_time"] == "13:05"
        assert early["calendar"]["closing_early"] is True
        assert early["calendar"]["reason"] == "snow"
        set_day(session, entry(TODAY, closed=True, collect_from=None, reason="INSET day"),
                by="office", now=NOW)
        closed = pupil_states(session, config, now=NOW)
        # On a closed day nobody is "not handed in"; a phone in the locker is still there.
        assert {p["id"]: p["state"] for p in closed["pupils"]} == {
            amara: "school_closed", held: "in_locker"}
        assert closed["collection_time"] is None
        assert closed["calendar"]["closed"] is True


def test_the_migration_matches_the_model(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kiosk.store.models import Base

    with db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if "calendar_days" in repr(d) or "details" in repr(d)] == []


@pytest.mark.parametrize("typed", ["1330", "13.30", "24:00", "13:60", "١٣:٣٠", "", "13:30pm"])
def test_a_time_is_24_hour_hh_mm_in_ascii_digits(typed):
    from kiosk.calendar.days import parse_hhmm

    with pytest.raises(InputError, match="is not a time HH:MM"):
        parse_hhmm(typed, "collect_from")
    assert parse_hhmm(" 9:05 ", "collect_from") == time(9, 5)
