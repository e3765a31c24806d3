"""The History CSV's per-column writer writes what the csv module writes, byte for byte:
quotes, commas, line breaks, defused formulas, non-ASCII, NULLs, both sides of the UK's
clock changes, pupils added while the export runs, across chunk boundaries."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import select

from kiosk.policy import Refusal
from kiosk.reports.words import CollectionTimes, event_words, place_words
from kiosk.school.queries import iso_local
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Event, Locker, Pupil
from web import history

from .conftest import local_clock, login
from .test_web_sessions_postgres import pg_db  # noqa: F401 (a fixture)

TRICKY = [
    'Zoë "Zed" O\'Brien', "Smith, Jo", "Line\nbreak", "Carriage\rreturn", "=SUM(A1)",
    "+44 7700", "-minus", "@handle", "\tTab", "Ñandú ünïcödé 漢字", '"', ",", "", " spaced ",
]
#: UTC instants either side of the UK's clock changes in 2026 (29 March, 25 October)
CLOCK_CHANGES = [datetime(2026, 3, 29, 0, 59, 59), datetime(2026, 3, 29, 1, 0, 0),
                 datetime(2026, 10, 25, 0, 59, 59), datetime(2026, 10, 25, 1, 0, 1),
                 datetime(2026, 10, 25, 1, 59, 30)]


def _add_tricky_events(db) -> None:
    with db.session() as session:
        session.add(Locker(id="=odd,locker", name='Hall "B", by the door'))
        pupils = []
        for n, text in enumerate(TRICKY):
            pupil = Pupil(name=f"{text} {n}" if n % 2 else text, year=7,
                          class_name=text or "7Q")
            session.add(pupil)
            pupils.append(pupil)
        session.flush()
        for n, text in enumerate(TRICKY):
            at = CLOCK_CHANGES[n % len(CLOCK_CHANGES)]
            record_event(session, Kind.OVERRIDE, at=at, actor=text or None, reason=text,
                         locker_id="=odd,locker", bay=n % 3 or None)
            record_event(session, Kind.DEPOSIT, at=at, pupil_id=pupils[n].id,
                         card_uid=text[:20] or None, locker_id="=odd,locker", bay=n)
            record_event(session, Kind.REFUSED, at=at, card_uid="-04AB",
                         reason=Refusal.TOO_EARLY if n % 2 else Refusal.UNKNOWN_CARD,
                         locker_id="gone-locker")
        session.commit()


def _csv_module_text(db, config) -> str:
    """The export as the csv module writes it from the ORM's events (the old way)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(history.CSV_COLUMNS)
    with db.session() as session:
        lockers = dict(session.execute(select(Locker.id, Locker.name)).all())
        times = CollectionTimes(session, config)
        rows = session.execute(
            select(Event, Pupil.name, Pupil.class_name)
            .outerjoin(Pupil, Pupil.id == Event.pupil_id)
            .order_by(Event.at.desc(), Event.id.desc())).all()
        cell = history._cell
        for event, name, class_name in rows:
            writer.writerow((
                iso_local(event.at, config), event.kind, event.pupil_id, cell(name),
                cell(class_name), cell(event.card_uid), cell(event.locker_id), event.bay,
                cell(event.actor), cell(event.reason),
                times.event_words(event.kind, event.reason, event.at),
                cell(place_words(lockers.get(event.locker_id), event.bay, event.locker_id)),
            ))
    return "\ufeff" + buffer.getvalue()


@pytest.mark.parametrize(("chunk", "part"), [(1, 1), (6, 4), (8, 3), (5000, 500)])
def test_csv_is_byte_identical_to_the_csv_module(make_app, db, config, monkeypatch, chunk,
                                                 part):
    """Chunks (read transactions) and the parts fetched within them lose or repeat no row."""
    monkeypatch.setattr(history, "CSV_CHUNK", chunk)
    monkeypatch.setattr(history, "CSV_PART", part)
    _add_tricky_events(db)
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "office")
    expected = _csv_module_text(db, config)  # after the login: its event is in both
    body = client.get("/history.csv?from=2000-01-01&to=2099-12-31").get_data(as_text=True)
    assert body == expected
    assert "2026-03-29T00:59:59+00:00" in body and "2026-03-29T02:00:00+01:00" in body
    assert "2026-10-25T01:59:59+01:00" in body and "2026-10-25T01:00:01+00:00" in body
    assert '"\'=SUM(A1)' not in body and "'=SUM(A1)" in body  # defused, not quoted


def test_a_pupil_added_during_the_export_has_their_name(make_app, db, monkeypatch):
    """The names are read once, not joined per event: one added between chunks is read."""
    monkeypatch.setattr(history, "CSV_CHUNK", 2)
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "office")
    response = client.get("/history.csv?from=2000-01-01&to=2099-12-31", buffered=False)
    chunks = iter(response.response)
    next(chunks), next(chunks)  # the header and the first chunk (the names read)
    with db.session() as session:
        pupil = Pupil(name="Newcomer, Nia", year=7, class_name="7N")
        session.add(pupil)
        session.flush()
        record_event(session, Kind.DEPOSIT, at=datetime(2000, 1, 3, 9), pupil_id=pupil.id)
        session.commit()
        pupil_id = pupil.id
    body = b"".join(chunks).decode()
    response.close()
    assert f'2000-01-03T09:00:00+00:00,deposit,{pupil_id},"Newcomer, Nia",7N,' in body


@pytest.mark.parametrize("text", [*TRICKY, "a\r\nb", 'x"y', "1,2,3", 'é,"', "plain"])
def test_field_quotes_as_the_csv_module(text):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([text, "x"])
    assert f"{history._field(text)},x\r\n" == buffer.getvalue()


def test_caches_stay_bounded(monkeypatch, make_app, db):
    """A year of refusals of different unknown cards keeps at most _CACHE_KEPT of them."""
    monkeypatch.setattr(history, "_CACHE_KEPT", 3)
    with db.session() as session:
        for n in range(10):
            record_event(session, Kind.REFUSED, at=datetime(2001, 1, 1, 9, n), card_uid=f"C{n}",
                         reason=f"reason {n}", locker_id=f"L{n}", bay=n, actor=f"a{n}")
        session.commit()
    with make_app().app_context():
        rows = history._CsvRows(history.config())
        with db.session() as session:
            rows.start_chunk(session)
            events = Event.__table__.c
            text = rows.lines(session.connection().execute(
                select(events.id, events.at, events.kind, events.pupil_id, events.card_uid,
                       events.locker_id, events.bay, events.actor, events.reason)
                .where(events.at < datetime(2002, 1, 1)).order_by(events.id)).all())
    assert text.count("\r\n") == 10 and "C9" in text and "reason 9" in text
    assert max(len(rows._people), len(rows._rests), len(rows._stored.minutes)) <= 3
    assert event_words(Kind.REFUSED, "reason 9") in text


@pytest.mark.parametrize("stored", ["1840-01-01 12:00:30.000000", "2026-10-25T01:30:05",
                                    "2026-10-25 00:30:05", "2026-03-29 01:00:59.999999"])
def test_stored_times_of_any_format_are_converted(make_app, db, config, stored):
    """SQLite's text of ``at`` is looked up by minute; a pre-1900 offset of whole seconds
    (London's mean time, -00:01:15) or another format takes the slow, exact way."""
    with make_app().app_context():
        rows = history._CsvRows(config, text_times=True)
        with db.session() as session:
            rows.start_chunk(session)
            line = rows.lines([(1, stored, "login", None, None, None, None, None, None)])
    assert line.startswith(iso_local(datetime.fromisoformat(stored), config) + ",login,")


def test_csv_on_postgresql_is_byte_identical_too(pg_db, tmp_path, monkeypatch):  # noqa: F811
    """On PostgreSQL ``at`` arrives as a datetime (no stored text): the same bytes."""
    from kiosk.config import parse_config
    from kiosk.school import staff
    from web import create_app

    from .conftest import PASSWORD

    monkeypatch.setattr(history, "CSV_CHUNK", 4)
    monkeypatch.setattr(history, "CSV_PART", 3)
    _add_tricky_events(pg_db)
    with pg_db.session() as session:
        staff.create_user(session, "office.pg", PASSWORD, role="office", actor="test")
        session.commit()
    config = parse_config({"database": {"url": pg_db.url},
                           "policy": {"timezone": "Europe/London"},
                           "web": {"secret_key_file": str(tmp_path / "key")}})
    client = create_app(config, pg_db, test_config={
        "TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
    assert login(client, "office.pg").status_code == 302
    expected = _csv_module_text(pg_db, config)
    body = client.get("/history.csv?from=2000-01-01&to=2099-12-31").get_data(as_text=True)
    assert body == expected and "2026-03-29T02:00:00+01:00" in body


def _add_events(db, count: int) -> None:
    with db.session() as session:
        for n in range(count):
            record_event(session, Kind.OVERRIDE, at=datetime(2001, 1, 1, 9, n), actor=f"a{n}")
        session.commit()


def test_the_export_streams_each_chunk_before_reading_the_next(make_app, db, monkeypatch):
    """The first chunk's rows are sent before the next chunk's query runs."""
    monkeypatch.setattr(history, "CSV_CHUNK", 2)
    _add_events(db, 7)
    queries = []
    real = history.plain_parts

    def counted(connection, statement, size, parameters=None):
        queries.append(statement)
        return real(connection, statement, size, parameters)

    monkeypatch.setattr(history, "plain_parts", counted)
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "office")
    response = client.get("/history.csv?from=2000-01-01&to=2099-12-31", buffered=False)
    pieces = iter(response.response)
    assert next(pieces).startswith("\ufefftime,".encode())  # the header, no query yet
    assert queries == []
    first = next(pieces)
    assert first.count(b"\r\n") == 2 and len(queries) == 1
    rest = b"".join(pieces)
    response.close()
    assert (first + rest).count(b",override,") == 7 and len(queries) >= 4


@pytest.mark.parametrize("finish", ["read to the end", "client went away"])
def test_the_export_gives_its_memory_back_when_it_ends(make_app, db, monkeypatch, finish):
    """malloc_trim (web/memory.py) once the export is over, however it ends; the
    writer's caches are gone by then."""
    monkeypatch.setattr(history, "CSV_CHUNK", 2)
    _add_events(db, 5)
    released = []
    monkeypatch.setattr(history, "release", lambda: released.append(True) or True)
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "office")
    response = client.get("/history.csv?from=2000-01-01&to=2099-12-31", buffered=False)
    pieces = iter(response.response)
    next(pieces), next(pieces)
    assert released == []
    if finish == "read to the end":
        list(pieces)
    response.close()
    assert released == [True]
