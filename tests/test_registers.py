"""The registers in-process: status, the one query, expiry, audit, export and purge.

Every time here is a fixed instant passed in as ``now`` (the domain reads no
clock), so these pass at any wall-clock time and under PHONELOCKER_TEST_NOW.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from kiosk.care.export import export_pupil
from kiosk.care.retention import purge
from kiosk.errors import ActionError
from kiosk.registers.arrangements import add_arrangement, end_arrangement
from kiosk.registers.exceptions import add_exception, end_exception
from kiosk.registers.queries import list_arrangements
from kiosk.school.pupils import add_pupil
from kiosk.school.queries import pupil_states
from kiosk.store.events import Kind
from kiosk.store.models import Event, Pupil, PupilException, StaffArrangement

LONDON = ZoneInfo("Europe/London")
#: Tuesday 1 December 2026, 10:00 in London
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)
DAY = NOW.date()


def pupil(session, name: str = "Amara Okafor", year: int = 6, class_name: str = "6K") -> Pupil:
    return add_pupil(session, name=name, year=year, class_name=class_name, actor="test")


def exception(session, who: Pupil, **fields) -> PupilException:
    values = {"kind": "medical", "reason": "glucose monitor runs on the phone",
              "agreed_by": "Mrs Patel", "now": NOW, "zone": LONDON, **fields}
    return add_exception(session, who, **values)


def row_of(session, config, pupil_id: int, now: datetime = NOW) -> dict:
    document = pupil_states(session, config, now=now)
    return next(r for r in document["pupils"] if r["id"] == pupil_id)


def test_status_gives_each_pupil_an_exception_field(db, config):
    with db.session() as session:
        amara, ben = pupil(session), pupil(session, "Ben Carter")
        exception(session, amara, until=date(2027, 7, 22), review_on=date(2026, 12, 10))
        session.commit()
        assert row_of(session, config, amara.id)["exception"] == {
            "kind": "medical", "until": "2027-07-22", "review": "2026-12-10"}
        assert row_of(session, config, amara.id)["state"] == "not_handed_in"
        assert row_of(session, config, ben.id)["exception"] is None


def test_an_exception_applies_to_a_pupil_of_any_year(db, config):
    with db.session() as session:
        reception = pupil(session, "Zara Ali", year=0, class_name="RB")
        exception(session, reception, kind="young_carer")
        session.commit()
        assert row_of(session, config, reception.id)["exception"]["kind"] == "young_carer"


def test_an_exception_past_its_last_day_stops_applying_by_itself(db, config):
    with db.session() as session:
        amara = pupil(session)
        exception(session, amara, until=DAY)
        session.commit()
        assert row_of(session, config, amara.id, NOW + timedelta(hours=13))["exception"]
        # 00:30 the next day in London
        assert row_of(session, config, amara.id, NOW + timedelta(hours=14, minutes=30))[
            "exception"] is None


def test_an_exception_starting_later_is_not_in_force_yet(db, config):
    with db.session() as session:
        amara = pupil(session)
        exception(session, amara, starts_on=date(2026, 12, 7))
        session.commit()
        assert row_of(session, config, amara.id)["exception"] is None
        assert row_of(session, config, amara.id, NOW + timedelta(days=6))["exception"]


def test_ending_an_exception_stops_it_the_same_day_and_is_audited(db, config):
    with db.session() as session:
        amara = pupil(session)
        row = exception(session, amara)
        session.commit()
        end_exception(session, row, by="office", reason="reviewed with parents",
                      now=NOW + timedelta(hours=1))
        session.commit()
        assert row_of(session, config, amara.id, NOW + timedelta(hours=2))["exception"] is None
        kinds = [(e.kind, e.actor, e.pupil_id) for e in session.scalars(
            select(Event).where(Event.kind.like("exception%")).order_by(Event.id))]
        assert kinds == [("exception_added", "Mrs Patel", amara.id),
                         ("exception_ended", "office", amara.id)]
        with pytest.raises(ActionError, match="already ended"):
            end_exception(session, row, by="office", reason="again", now=NOW)


def test_ended_late_in_the_evening_counts_by_the_school_day(db, config):
    """Ended at 23:30 London on a summer day (22:30 UTC): it no longer applies that day,
    and applied the day before."""
    summer = datetime(2026, 6, 15, 9, 0, tzinfo=LONDON)
    with db.session() as session:
        amara = pupil(session)
        row = exception(session, amara, now=summer - timedelta(days=1),
                        starts_on=date(2026, 6, 1))
        session.commit()
        end_exception(session, row, by="office", reason="r",
                      now=datetime(2026, 6, 15, 23, 30, tzinfo=LONDON))
        session.commit()
        assert row_of(session, config, amara.id, summer - timedelta(days=1))["exception"]
        assert row_of(session, config, amara.id, summer)["exception"] is None


def test_status_reads_exceptions_in_one_query_whatever_the_number(db, config):
    def exception_queries(session) -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            if "pupil_exceptions" in statement:
                seen.append(statement)

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            pupil_states(session, config, now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    with db.session() as session:
        first = pupil(session)
        exception(session, first)
        session.commit()
        one = exception_queries(session)
        for number in range(20):
            exception(session, pupil(session, f"Pupil {number}"))
        session.commit()
        assert exception_queries(session) == one == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "phone"}, "kind must be one of"),
        ({"reason": "  "}, "a reason is needed"),
        ({"agreed_by": ""}, "who agreed it"),
        ({"agreed_by": "Mrs\x1b[31mPatel"}, "control characters"),
        ({"starts_on": date(2026, 11, 1), "until": date(2026, 11, 30)}, "in the past"),
        ({"starts_on": date(2026, 12, 10), "until": date(2026, 12, 9)}, "before the start"),
        ({"reason": "x" * 2001}, "too long"),
    ],
)
def test_bad_exceptions_are_refused_with_the_reason(db, fields, message):
    with db.session() as session:
        amara = pupil(session)
        with pytest.raises(ActionError, match=message):
            exception(session, amara, **fields)


def test_a_pupil_who_has_left_cannot_be_given_one(db):
    with db.session() as session:
        amara = pupil(session)
        amara.active = False
        with pytest.raises(ActionError, match="has left"):
            exception(session, amara)


def test_export_pupil_includes_their_exceptions(db, config):
    with db.session() as session:
        amara = pupil(session)
        row = exception(session, amara, review_on=date(2027, 1, 5))
        end_exception(session, row, by="office", reason="no longer needed", now=NOW)
        session.commit()
        exported = export_pupil(session, amara.id, config)
    (entry,) = exported["exceptions"]
    assert entry["kind"] == "medical" and entry["reason"] == "glucose monitor runs on the phone"
    assert (entry["agreed_by"], entry["from"], entry["review"]) == (
        "Mrs Patel", "2026-12-01", "2027-01-05")
    assert entry["ended_by"] == "office" and entry["end_reason"] == "no longer needed"
    assert {"exception_added", "exception_ended"} <= {e["kind"] for e in exported["events"]}


def test_arrangements_add_end_and_find_one_persons_for_subject_access(db):
    with db.session() as session:
        mfa = add_arrangement(session, staff_name="Mr Ó Néill", arrangement="MFA codes",
                              agreed_by="Mrs Patel", now=NOW, zone=LONDON)
        add_arrangement(session, staff_name="Ms Jones", arrangement="acutely ill dependant",
                        agreed_by="Mrs Patel", now=NOW, zone=LONDON, until=date(2027, 3, 31))
        end_arrangement(session, mfa, by="admin", reason="new phone policy", now=NOW)
        session.commit()
        assert [r.arrangement for r in list_arrangements(session, staff="mr ó néill")] == [
            "MFA codes"]
        audit = [(e.kind, e.actor) for e in session.scalars(
            select(Event).where(Event.kind.like("arrangement%")).order_by(Event.id))]
    assert audit == [("arrangement_added", "Mrs Patel"), ("arrangement_added", "Mrs Patel"),
                     ("arrangement_ended", "admin")]


def test_purge_removes_leavers_exceptions_and_entries_over_before_the_window(db):
    """Events are kept 13 months: an exception or arrangement that ended (or ran out)
    before that goes; a running one, a recently ended one and a current pupil's stay."""
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    long_ago = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)  # 18 months before
    with db.session() as session:
        leaver, stays = pupil(session, "Left Long Ago"), pupil(session, "Still Here")
        exception(session, leaver, now=long_ago, starts_on=date(2025, 6, 1))
        leaver.active = False
        leaver.left_at = datetime(2025, 7, 20)
        old_ended = exception(session, stays, now=long_ago, starts_on=date(2025, 6, 1))
        end_exception(session, old_ended, by="office", reason="r", now=long_ago)
        ran_out = exception(session, stays, now=long_ago, starts_on=date(2025, 6, 1),
                            until=date(2025, 7, 1))
        recent = exception(session, stays, now=long_ago, starts_on=date(2025, 6, 1))
        end_exception(session, recent, by="office", reason="r", now=NOW - timedelta(days=30))
        running = exception(session, stays, now=long_ago, starts_on=date(2025, 6, 1))
        old_arrangement = add_arrangement(session, staff_name="Mr A", arrangement="MFA codes",
                                          agreed_by="Head", now=long_ago, zone=LONDON)
        end_arrangement(session, old_arrangement, by="admin", reason="r", now=long_ago)
        kept_arrangement = add_arrangement(session, staff_name="Ms B", arrangement="MFA codes",
                                           agreed_by="Head", now=long_ago, zone=LONDON)
        session.commit()
        ids = {"ran_out": ran_out.id, "recent": recent.id, "running": running.id,
               "kept": kept_arrangement.id}

        dry = purge(session, events_months=13, leavers_months=13, now=now, dry_run=True)
        assert (dry.exceptions, dry.arrangements, dry.pupils) == (3, 1, 1)
        session.rollback()
        result = purge(session, events_months=13, leavers_months=13, now=now)
        session.commit()
        assert (result.exceptions, result.arrangements) == (3, 1)
        assert sorted(session.scalars(select(PupilException.id))) == sorted(
            [ids["recent"], ids["running"]])
        assert list(session.scalars(select(StaffArrangement.id))) == [ids["kept"]]
        record = session.get(Event, result.event_id)
        assert "exceptions=3 arrangements=1" in record.reason
        assert record.kind == Kind.PURGE
