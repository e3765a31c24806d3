"""The retention purge.

Real SQLite files in tmp_path; the commands are run through click's CliRunner
with ``--config`` pointing at a TOML file, as an administrator would run them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from kiosk.care.retention import purge, subtract_months
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Card, Command, EarlyRelease, Event, Holding, Pupil, Year5Approval
from kiosk.timeutil import utcnow

from .maintenance_helpers import UIDS, count, db_path, dump, invoke, make_pupil

# --- month arithmetic ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        ("2025-03-31 12:00", 1, "2025-02-28 12:00"),
        ("2025-03-31 12:00", 13, "2024-02-29 12:00"),  # leap year
        ("2025-01-15 00:00", 13, "2023-12-15 00:00"),  # across a year end
        ("2025-12-31 23:59", 12, "2024-12-31 23:59"),
        ("2024-02-29 08:00", 12, "2023-02-28 08:00"),
    ],
)
def test_subtract_months_is_calendar_months(moment, months, expected):
    assert subtract_months(datetime.fromisoformat(moment), months) == datetime.fromisoformat(
        expected
    )


# --- purge ---------------------------------------------------------------------------------


def test_purge_boundaries_with_a_fixed_clock(db):
    now = datetime(2025, 3, 31, 12, 0)
    cutoff = datetime(2024, 2, 29, 12, 0)  # 13 calendar months earlier
    with db.session() as session:
        stays = make_pupil(session, "Stays", 6, "6K", UIDS[0])
        on_boundary = make_pupil(session, "Left on boundary", 6, "6K", UIDS[1], active=False,
                                 left_at=cutoff)
        past = make_pupil(session, "Left before", 6, "6K", UIDS[2], active=False,
                          left_at=cutoff - timedelta(seconds=1))
        no_date = make_pupil(session, "No date", 6, "6K", UIDS[3], active=False)
        session.execute(Event.__table__.delete())  # only the events placed below
        for offset in (-1, 0, 1):
            record_event(session, Kind.DEPOSIT, at=cutoff + timedelta(seconds=offset),
                         pupil_id=stays.id)
        session.commit()
        ids = stays.id, on_boundary.id, past.id, no_date.id

    with db.session() as session:
        dry = purge(session, events_months=13, leavers_months=13, now=now, dry_run=True)
        session.rollback()
    assert (dry.events, dry.pupils, dry.cards, dry.inactive_without_date) == (1, 1, 1, 1)
    assert dry.events_before == dry.leavers_before == cutoff
    assert count(db, Event) == 3 and count(db, Pupil) == 4

    with db.session() as session:
        result = purge(session, events_months=13, leavers_months=13, now=now, actor="admin")
        session.commit()
    assert (result.events, result.pupils, result.cards) == (1, 1, 1)
    with db.session() as session:
        left = sorted(session.scalars(select(Event.at).where(Event.kind == "deposit")))
        assert left == [cutoff, cutoff + timedelta(seconds=1)]  # exactly 13 months is kept
        assert sorted(session.scalars(select(Pupil.id))) == sorted([ids[0], ids[1], ids[3]])


def _purge_school(db: Database):
    """Pupils and history either side of the 13-month retention line (real clock)."""
    now = utcnow()
    line = subtract_months(now, 13)
    with db.session() as session:
        current = make_pupil(session, "Current Pupil", 6, "6K", UIDS[0])
        gone = make_pupil(session, "Gone Leaver", 6, "6K", UIDS[1], active=False,
                          left_at=line - timedelta(days=1))
        recent = make_pupil(session, "Recent Leaver", 6, "6K", UIDS[2], active=False,
                            left_at=line + timedelta(days=1))
        stranded = make_pupil(session, "Stranded Phone", 6, "6K", UIDS[3], active=False,
                              left_at=line - timedelta(days=30))
        session.add(Year5Approval(pupil_id=gone.id, approved_by="Head", approved_at=line))
        session.add(EarlyRelease(pupil_id=gone.id, on_date=line.date(), by="Office",
                                 reason="dentist"))
        session.add(Holding(pupil_id=stranded.id, locker_id="locker-1", bay=1, since=line))
        for pupil in (current, gone, recent):
            record_event(session, Kind.DEPOSIT, at=line - timedelta(days=2), pupil_id=pupil.id,
                         card_uid=pupil.cards[0].uid, locker_id="locker-1", bay=1)
            record_event(session, Kind.COLLECT, at=line + timedelta(days=2), pupil_id=pupil.id,
                         card_uid=pupil.cards[0].uid, locker_id="locker-1", bay=1)
        record_event(session, Kind.CARD_REVOKED, at=line + timedelta(days=3), pupil_id=gone.id,
                     card_uid=UIDS[1], reason=f"replaced by {UIDS[1]}")
        session.add_all([
            Command(kind="enrol", pupil_id=gone.id, actor="office", status="done",
                    card_uid=UIDS[1], result=f"card {UIDS[1]} assigned to Gone Leaver",
                    created_at=now - timedelta(days=2), finished_at=now - timedelta(days=2)),
            Command(kind="unlock", actor="office", reason="stuck", status="done",
                    created_at=now - timedelta(days=31), finished_at=now - timedelta(days=31)),
            Command(kind="unlock", actor="office", reason="stuck", status="done",
                    created_at=now - timedelta(days=29), finished_at=now - timedelta(days=29)),
            Command(kind="unlock", actor="office", reason="queued", status="pending",
                    created_at=now - timedelta(days=60)),
        ])
        session.commit()
        return {p.name: p.id for p in (current, gone, recent, stranded)}, line


def test_purge_removes_exactly_what_is_past_retention(config_file, config, db):
    ids, line = _purge_school(db)
    with db.session() as session:
        old_events = session.scalar(
            select(func.count()).select_from(Event).where(Event.at < line)
        )
        kept_before = {
            "current": [(e.id, e.at, e.card_uid) for e in session.scalars(
                select(Event).where(Event.pupil_id == ids["Current Pupil"], Event.at >= line))],
            "recent_cards": session.scalars(
                select(Card.uid).where(Card.pupil_id == ids["Recent Leaver"])).all(),
        }
        scrubbed = session.scalar(select(func.count()).select_from(Event).where(
            Event.pupil_id == ids["Gone Leaver"], Event.at >= line))
    assert old_events >= 3 and scrubbed >= 4  # added, enrolled, collected, card replaced
    before = dump(db_path(config))

    dry = invoke(config_file, "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would remove {old_events} event(s) older than 13 months" in dry.output
    assert "would remove 1 pupil(s) who left more than 13 months ago" in dry.output
    assert "dry run: nothing was changed" in dry.output
    assert dump(db_path(config)) == before

    result = invoke(config_file, "purge", "--by", "admin")
    assert result.exit_code == 0, result.output
    assert f"removed {old_events} event(s) older than 13 months" in result.output
    assert (
        "removed 1 pupil(s) who left more than 13 months ago "
        f"(before {line:%Y-%m-%d %H:%M} UTC): 1 card(s), 1 approval(s), 1 early release(s); "
        f"{scrubbed} of their later event(s) were anonymised"
    ) in result.output
    assert "removed 2 command(s)" in result.output
    assert f"kept pupil {ids['Stranded Phone']} Stranded Phone" in result.output

    with db.session() as session:
        assert session.get(Pupil, ids["Gone Leaver"]) is None
        assert session.scalar(select(func.count()).select_from(Event).where(Event.at < line)) == 0
        for model in (Card, Year5Approval, EarlyRelease, Command):
            assert not session.scalars(
                select(model).where(model.pupil_id == ids["Gone Leaver"])).all()
        # Their later events stay, with nothing left that points at them.
        anonymous = session.scalars(select(Event).where(
            Event.pupil_id.is_(None), Event.kind != Kind.PURGE.value)).all()
        assert len(anonymous) == scrubbed
        assert all(e.card_uid is None and UIDS[1] not in (e.reason or "") for e in anonymous)
        assert any(e.reason == "replaced by [card]" for e in anonymous)
        # Newer data is untouched.
        assert [(e.id, e.at, e.card_uid) for e in session.scalars(
            select(Event).where(Event.pupil_id == ids["Current Pupil"], Event.at >= line)
        )] == kept_before["current"]
        assert session.get(Pupil, ids["Recent Leaver"]) is not None
        assert session.scalars(
            select(Card.uid).where(Card.pupil_id == ids["Recent Leaver"])
        ).all() == kept_before["recent_cards"]
        assert session.get(Holding, ids["Stranded Phone"]) is not None
        assert sorted(c.status for c in session.scalars(select(Command))) == ["done", "pending"]
        [event] = session.scalars(select(Event).where(Event.kind == Kind.PURGE.value)).all()
        assert event.actor == "admin"
        assert f"events={old_events} pupils=1 cards=1 approvals=1" in event.reason
        assert f"commands=2 scrubbed_events={scrubbed}" in event.reason
        assert "Gone" not in event.reason and "Stranded" not in event.reason
    # The removed pupil's name and card UID are nowhere in the database any more.
    remaining = json.dumps(dump(db_path(config)), default=str)
    assert "Gone Leaver" not in remaining and UIDS[1] not in remaining

    again = invoke(config_file, "purge")
    assert again.exit_code == 0
    assert "removed 0 event(s)" in again.output and "removed 0 pupil(s)" in again.output
