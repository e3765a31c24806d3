"""Many lockers, one school: kiosks with their own SQLite, syncing with a central database
(SQLite here; tests/test_sync_postgres.py runs the same school on PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kiosk.school.pupils import add_pupil, get_pupil, office_takes_phone, revoke_card
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Card, Event, Holding, Pupil
from tests.sync_helpers import Clock, School, morning

AMARA, BEN = "04A1B2C3D4E5F6", "04B1B2C3D4E5F6"


@pytest.fixture
def school(tmp_path):
    url = f"sqlite:///{tmp_path / 'central.db'}"
    central = Database(url)
    central.upgrade()
    with central.session() as session:
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                  actor="office", external_id="UPN1")
        add_pupil(session, name="Ben Ward", year=6, class_name="6R", card_uid=BEN,
                  actor="office", external_id="UPN2")
        session.commit()
    made = School(tmp_path, url, central, Clock(morning()))
    yield made
    made.close()


def central_events(school, kind=None):
    with school.central.session() as session:
        query = select(Event).order_by(Event.id)
        if kind:
            query = query.where(Event.kind == kind)
        return list(session.scalars(query))


def test_a_tap_reaches_the_central_database_once_with_its_holding(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    outcome = k6.tap(AMARA)
    assert outcome.decision.action == "deposit"
    k6.sync()
    k6.sync()
    deposits = central_events(school, "deposit")
    assert len(deposits) == 1
    assert deposits[0].uid and deposits[0].locker_id == "6k"
    with school.central.session() as session:
        holding = session.scalars(select(Holding)).one()
        assert holding.locker_id == "6k"
        assert holding.event_id == deposits[0].id


def test_a_phone_in_another_locker_is_not_handed_in_twice(school):
    k6, r6 = school.kiosk("6k", "6K"), school.kiosk("6r", "6R")
    k6.sync()
    r6.sync()
    assert k6.tap(AMARA).decision.action == "deposit"
    k6.sync()
    school.clock.advance(5)
    r6.sync()
    outcome = r6.tap(AMARA)
    assert outcome.decision.action == "refuse"
    assert outcome.decision.reason == "in_other_locker"
    assert outcome.decision.message == "Your phone is in the 6K locker"


def test_a_change_made_centrally_reaches_the_kiosk_at_its_next_cycle(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    with school.central.session() as session:
        revoke_card(session, AMARA, actor="office", reason="lost")
        session.commit()
    k6.sync()
    outcome = k6.tap(AMARA)
    assert outcome.decision.reason == "card_revoked"


def test_offline_taps_are_kept_and_sent_exactly_once_when_back(school, tmp_path):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    broken = school.central_url
    k6.worker.url = f"sqlite:///{tmp_path / 'missing' / 'x' / 'central.db'}"
    k6.worker._engine = None
    k6.worker._disconnect()
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "x").write_text("not a directory")  # so the open fails
    with pytest.raises(Exception):  # noqa: B017 - any failure to reach it
        k6.sync()
    k6.worker._failed(RuntimeError("cut"))
    assert k6.tap(AMARA).decision.action == "deposit"
    report = k6.worker.report()
    assert not report.connected
    k6.worker.url = broken
    k6.worker._engine = None
    k6.sync()
    k6.sync()
    assert len(central_events(school, "deposit")) == 1
    assert len(central_events(school, "sync_back_online")) == 1
    assert k6.worker.report().connected


def test_the_office_hand_back_recorded_centrally_ends_the_holding_at_the_kiosk(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    k6.tap(AMARA)
    k6.sync()
    with school.central.session() as session:
        pupil = session.scalars(select(Pupil).where(Pupil.external_id == "UPN1")).one()
        office_takes_phone(session, pupil, actor="office", reason="dentist")
        session.commit()
    k6.sync()
    k6.sync()
    with k6.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Holding)) == 0
    with school.central.session() as session:
        assert session.scalar(select(func.count()).select_from(Holding)) == 0
    assert len(central_events(school, "office_return")) == 1


def test_a_card_cancelled_centrally_but_used_offline_is_flagged(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    with school.central.session() as session:
        revoke_card(session, AMARA, actor="office", reason="lost", now=school.clock())
        session.commit()
    school.clock.advance(60)
    assert k6.tap(AMARA).decision.action == "deposit"  # it did not know yet
    k6.sync()
    conflicts = central_events(school, Kind.SYNC_CONFLICT)
    assert len(conflicts) == 1
    assert "cancelled" in conflicts[0].reason
    assert len(central_events(school, "deposit")) == 1


def test_a_standalone_school_joins_matched_by_upn_without_duplicates(school, tmp_path):
    k6 = school.kiosk("6k", "6K")
    # before it had a central database: its own pupils, one the central roll has too
    with k6.db.session() as session:
        add_pupil(session, name="Zed Local", year=6, class_name="6K", card_uid="04C1B2C3D4E5F6",
                  actor="office")
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                  actor="office", external_id="UPN1")
        session.commit()
    assert k6.tap("04C1B2C3D4E5F6").decision.action == "deposit"
    k6.sync()
    k6.sync()
    with school.central.session() as session:
        names = sorted(session.scalars(select(Pupil.name)))
        assert names == ["Amara Okafor", "Ben Ward", "Zed Local"]
        zed = session.scalars(select(Pupil).where(Pupil.name == "Zed Local")).one()
        deposit = session.scalars(select(Event).where(Event.kind == "deposit")).one()
        assert deposit.pupil_id == zed.id
        assert session.get(Holding, zed.id) is not None
        assert session.scalar(select(func.count()).select_from(Card)) == 3
    with k6.db.session() as session:
        assert get_pupil(session, zed.id).name == "Zed Local"
