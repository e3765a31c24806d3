"""The bulk writers (import, rollover, purge) on PostgreSQL, when one is configured.

Skipped without ``PHONELOCKER_TEST_POSTGRES_URL`` (see tests/test_postgres.py).
"""

from __future__ import annotations

from sqlalchemy import select

from kiosk.care.retention import purge
from kiosk.care.rollover import apply_rollover, plan_rollover
from kiosk.school.importer import apply_import
from kiosk.school.pupil_csv import parse_pupils_csv
from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database
from kiosk.store.models import Card, Event, Pupil

from .test_postgres import pg_url  # noqa: F401 - the fixture


def test_import_rollover_and_purge_run_on_postgresql(pg_url):  # noqa: F811
    db = Database(pg_url)
    try:
        db.upgrade()
        with db.session() as session:
            add_pupil(session, name="Hand Added", year=6, class_name="6A", actor="office")
            session.commit()
        csv = b"UPN,Name,Year,Class,Card\nA1,Amy Smith,4,4A,AAAAAAAA\nB1,Ben Jones,6,6A,BBBBBBBB\n"
        with db.session() as session:
            result = apply_import(session, parse_pupils_csv(csv), actor="office")
            session.commit()
        assert result.summary == "2 created, 0 updated, 0 unchanged"
        with db.session() as session:
            pupils = {p.name: p.id for p in session.scalars(select(Pupil))}
            cards = {c.uid: c.pupil_id for c in session.scalars(select(Card))}
            assert cards == {"AAAAAAAA": pupils["Amy Smith"], "BBBBBBBB": pupils["Ben Jones"]}
            plan = plan_rollover(session)
            apply_rollover(session, plan, actor="Head")
            session.commit()
        with db.session() as session:
            years = {p.name: (p.year, p.active) for p in session.scalars(select(Pupil))}
            assert years == {"Hand Added": (6, False), "Amy Smith": (5, True),
                             "Ben Jones": (6, False)}
            purged = purge(session, events_months=13, leavers_months=0)
            session.commit()
        assert purged.pupils == 2
        with db.session() as session:
            assert session.scalars(select(Pupil.name)).all() == ["Amy Smith"]
            assert "purge" in session.scalars(select(Event.kind)).all()
        # New pupils after the bulk insert still get fresh ids from the sequence.
        with db.session() as session:
            later = add_pupil(session, name="Later", year=3, class_name="3A", actor="office")
            session.commit()
            assert later.id > max(pupils.values())
    finally:
        db.dispose()
