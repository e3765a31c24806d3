"""The tap path's prepared statements store exactly what the ORM would."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Integer, select, text

from kiosk.store.events import INSERT_EVENT_SQL, INSERT_EVENT_TYPES, insert_event, record_event
from kiosk.store.models import Event
from kiosk.store.prepared import Prepared


def test_datetimes_written_raw_match_the_orm_format(db):
    moments = [datetime(2026, 11, 30, 8, 40), datetime(2026, 11, 30, 8, 40, 0, 123456)]
    statement = Prepared(INSERT_EVENT_SQL, db.engine.dialect, binds=INSERT_EVENT_TYPES)
    connection = db.engine.raw_connection()
    cursor = connection.cursor()
    raw_ids = [insert_event(cursor, statement, "deposit", at=at, clock_suspect=True)
               for at in moments]
    connection.commit()
    connection.close()
    with db.session() as session:
        orm_ids = [record_event(session, "deposit", at=at).id for at in moments]
        session.commit()
        for raw_id, orm_id, at in zip(raw_ids, orm_ids, moments, strict=True):
            assert session.get(Event, raw_id).at == at
            assert session.get(Event, raw_id).clock_suspect is True
            stored = session.execute(
                text("SELECT a.at = b.at FROM events a, events b WHERE a.id = :r AND b.id = :o"),
                {"r": raw_id, "o": orm_id},
            ).scalar()
            assert stored == 1, "the raw path must store the same text as the ORM"
        newest = session.scalars(select(Event).order_by(Event.at.desc(), Event.id.desc())).first()
        assert newest.id == orm_ids[1]


def test_results_are_converted_by_the_column_types(db):
    statement = Prepared(
        text("SELECT :day AS day, 1 AS flag, :when AS at, 7 AS n"),
        db.engine.dialect,
        binds={"day": Date(), "when": DateTime()},
        columns={"day": Date(), "flag": Boolean(), "at": DateTime(), "n": Integer()},
    )
    connection = db.engine.raw_connection()
    try:
        row = statement.first(connection.cursor(),
                              {"day": date(2026, 11, 30), "when": datetime(2026, 11, 30, 15, 15)})
    finally:
        connection.close()
    assert row == {"day": date(2026, 11, 30), "flag": True,
                   "at": datetime(2026, 11, 30, 15, 15), "n": 7}
