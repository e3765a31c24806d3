"""kiosk/store/plain_rows.py: the DBAPI's tuples where they are the result's rows, the
result's own rows where a column's type converts them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, select, type_coerce

from kiosk.store.events import Kind, record_event
from kiosk.store.models import Event
from kiosk.store.plain_rows import plain_parts, processed_columns

EVENTS = Event.__table__.c


def _events(db, count: int) -> None:
    with db.session() as session:
        for n in range(count):
            record_event(session, Kind.OVERRIDE, at=datetime(2001, 1, 1, 9, n), actor=f"a{n}",
                         bay=n, clock_suspect=bool(n % 2))
        session.commit()


def test_plain_parts_are_the_results_rows_in_parts(db):
    _events(db, 7)
    statement = select(EVENTS.id, type_coerce(EVENTS.at, String), EVENTS.actor,
                       EVENTS.bay).order_by(EVENTS.id)
    with db.session() as session:
        expected = [tuple(row) for row in session.execute(statement)]
        parts = list(plain_parts(session.connection(), statement, 3))
    assert [len(part) for part in parts] == [3, 3, 1]
    rows = [row for part in parts for row in part]
    assert rows == expected and all(type(row) is tuple for row in rows)
    assert rows[0][1] == "2001-01-01 09:00:00.000000"  # SQLite's stored text


def test_a_converted_column_is_read_through_the_result(db):
    """SQLite's DateTime and Boolean convert the stored values: the result's rows, so
    the values are what SQLAlchemy says (datetimes, booleans), never the raw ones."""
    _events(db, 4)
    statement = select(EVENTS.id, EVENTS.at, EVENTS.clock_suspect).order_by(EVENTS.id)
    with db.session() as session:
        assert processed_columns(statement, session.connection().dialect) == [
            "at", "clock_suspect"]
        rows = [row for part in plain_parts(session.connection(), statement, 3) for row in part]
    assert [row[1] for row in rows] == [datetime(2001, 1, 1, 9, n) for n in range(4)]
    assert [row[2] for row in rows] == [False, True, False, True]


def test_coerced_columns_are_not_converted(db):
    statement = select(type_coerce(EVENTS.at, String), type_coerce(EVENTS.clock_suspect, Integer))
    assert processed_columns(statement, db.engine.dialect) == []


def test_abandoned_parts_close_the_cursor(db):
    _events(db, 5)
    statement = select(EVENTS.id).order_by(EVENTS.id)
    results = []

    class Connection:  # the session's connection, keeping the result it returns
        def __init__(self, connection) -> None:
            self.dialect = connection.dialect
            self._connection = connection

        def execute(self, statement, parameters=None):
            results.append(self._connection.execute(statement, parameters))
            return results[-1]

    with db.session() as session:
        parts = plain_parts(Connection(session.connection()), statement, 2)
        assert len(next(parts)) == 2 and not results[0].closed
        parts.close()
        assert results[0].closed


def test_bound_parameters_are_passed(db):
    from sqlalchemy import bindparam

    _events(db, 6)
    statement = select(EVENTS.id).where(EVENTS.id > bindparam("after", type_=Integer()))
    with db.session() as session:
        rows = [row for part in plain_parts(session.connection(), statement.order_by(EVENTS.id),
                                            4, {"after": 3}) for row in part]
    assert rows == [(4,), (5,), (6,)]
