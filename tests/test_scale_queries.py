"""Queries that read what they need: the day's events on the time index, planner
statistics kept, ``events --json`` streamed. Real SQLite files in tmp_path."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import event as sa_event

from kiosk.cli.base import cli
from kiosk.school import queries as status
from kiosk.school.queries import pupil_states
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.timeutil import naive_utc

from .maintenance_helpers import db_path, invoke, make_pupil

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # a Tuesday; injected, never the wall clock


def _history(db: Database, days: int = 40, pupils: int = 30) -> None:
    """A few weeks of deposits and collections, and today's deposits."""
    with db.session() as session:
        ids = [make_pupil(session, f"Pupil {n} Surname{n}", 6, "6K").id for n in range(pupils)]
        for day in range(days, -1, -1):
            morning = naive_utc(NOW) - timedelta(days=day, hours=1)
            for pupil_id in ids:
                record_event(session, Kind.DEPOSIT, at=morning, pupil_id=pupil_id)
                if day:
                    record_event(session, Kind.COLLECT, at=morning + timedelta(hours=7),
                                 pupil_id=pupil_id)
        session.commit()


def _plans_of_events_queries(db: Database, config) -> list[str]:
    """EXPLAIN QUERY PLAN of every statement on ``events`` that pupil_states runs."""
    seen: list[tuple[str, object]] = []

    def note(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM events" in statement:
            seen.append((statement, parameters))

    sa_event.listen(db.engine, "before_cursor_execute", note)
    try:
        with db.session() as session:
            document = pupil_states(session, config, now=NOW)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", note)
    assert document["pupils"], "the school has pupils"
    assert seen, "pupil_states read the events table"
    connection = sqlite3.connect(db_path(config))
    try:
        return [
            " / ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in seen
        ]
    finally:
        connection.close()


def test_days_events_use_the_time_index_without_statistics(config, db):
    _history(db)
    connection = sqlite3.connect(db_path(config))
    connection.execute("DROP TABLE IF EXISTS sqlite_stat1")  # as on a database never analysed
    connection.commit()
    connection.close()
    for plan in _plans_of_events_queries(db, config):
        assert "USING INDEX ix_events_at (at>? AND at<?)" in plan, plan
        assert "ix_events_kind" not in plan and "SCAN" not in plan, plan


def test_days_events_use_the_time_index_with_statistics(config, db):
    _history(db)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    for plan in _plans_of_events_queries(db, config):
        assert "USING INDEX ix_events_at" in plan, plan


def test_upgrade_gathers_planner_statistics(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        database.upgrade()
    finally:
        database.dispose()
    connection = sqlite3.connect(tmp_path / "fresh.db")
    try:
        tables = {name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()
    assert "sqlite_stat1" in tables  # ANALYZE ran after the migrations


def test_nightly_maintenance_refreshes_statistics(config_file, config, db, tmp_path):
    _history(db, days=2, pupils=3)
    connection = sqlite3.connect(db_path(config))
    connection.execute("DROP TABLE IF EXISTS sqlite_stat1")
    connection.commit()
    connection.close()

    result = invoke(config_file, "maintenance", "--backup-dir", str(tmp_path / "backups"))

    assert result.exit_code == 0, result.output
    assert "planner statistics refreshed (ANALYZE)" in result.output
    connection = sqlite3.connect(db_path(config))
    try:
        analysed = {name for (name,) in connection.execute("SELECT tbl FROM sqlite_stat1")}
    finally:
        connection.close()
    assert "events" in analysed


def test_events_json_streams_every_event_in_order(config_file, db, monkeypatch):
    _history(db, days=2, pupils=3)
    monkeypatch.setattr(status, "STREAM_ROWS", 4)  # many fetches of a few rows each
    with db.session() as session:
        expected = [e.id for e in status.query_events(session)]
    result = CliRunner().invoke(cli, ["events", "--json", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["id"] for row in rows] == expected and len(expected) > 12
    assert set(rows[0]) == {"id", "uid", "at", "kind", "pupil_id", "card_uid", "locker", "bay",
                            "actor", "reason", "clock_suspect"}
    assert rows[0]["clock_suspect"] is False


@pytest.mark.parametrize("data", [
    [], [{"a": 1, "b": [1, 2], "c": {"d": "x\ny"}}], [{"a": 1}, {"b": "é"}],
    [{"n": n, "text": "x" * 200} for n in range(1000)],  # more than one 64 KB piece
    [{"id": 1, "none": None, "yes": True, "no": False, "q": 'a "quoted"\\ \t\u0001 é 😀'}],
    [{"f": 1.5, "n": -3}, {}, {"nested": {"a": [1]}}, [1, 2], "text"],
])
def test_streamed_json_list_prints_as_a_json_list_does(data):
    from kiosk.cli.base import emit_json, emit_json_list

    @click.command()
    def whole():
        emit_json(data)

    @click.command()
    def streamed():
        emit_json_list(iter(data))

    runner = CliRunner()
    assert runner.invoke(streamed).output == runner.invoke(whole).output


def test_local_iso_matches_iso_local_across_clock_changes(config):
    from kiosk.school.queries import iso_local, local_iso

    convert = local_iso(config)
    # Every 7 minutes (and some odd seconds) through the UK's spring and autumn changes.
    for start in (datetime(2026, 3, 28, 22, 0), datetime(2026, 10, 24, 22, 0)):
        for step in range(0, 60 * 60 * 8, 7 * 60 + 13):
            moment = start + timedelta(seconds=step, microseconds=step % 999)
            assert convert(moment) == iso_local(moment, config), moment
    assert convert(None) is None


def test_events_json_prints_each_event_as_json_dumps_of_its_dict(config_file, config, db):
    """The row writer of ``events --json`` against the json module on the same events:
    nulls, flags, quotes, control and non-ASCII characters, local times both sides of a
    clock change, a long reason."""
    from kiosk.school.queries import event_dict

    with db.session() as session:
        pupil = make_pupil(session, "Zoë O'Brien", 6, "6K").id
        for at, fields in [
            (datetime(2026, 3, 29, 0, 59, 59), {"pupil_id": pupil, "card_uid": "04A1B2C3",
                                                "locker_id": "main", "bay": 2}),
            (datetime(2026, 3, 29, 1, 0, 1), {"reason": 'said "no"\\ \t\u0001 é 😀\n' * 40,
                                              "actor": "office", "clock_suspect": True}),
            (datetime(2026, 10, 25, 0, 30, 7), {"locker_id": "é-locker", "bay": None}),
        ]:
            record_event(session, Kind.REFUSED, at=at, **fields)
        session.commit()
        expected = [event_dict(e, config) for e in status.query_events(session)]
    result = CliRunner().invoke(cli, ["events", "--json", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert result.output == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    assert any(row["clock_suspect"] for row in expected)
    assert {row["at"][-6:] for row in expected} == {"+00:00", "+01:00"}


def test_events_json_of_no_events_is_an_empty_list(config_file, db):
    result = CliRunner().invoke(cli, ["events", "--json", "--since", "2999-01-01",
                                      "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert result.output == "[]\n"


def test_local_iso_out_of_order_and_past_its_cache(config, monkeypatch):
    """A whole school's states come in no time order, and an export crosses more minutes
    than the converter keeps: every time still comes out as :func:`iso_local` says."""
    import random

    from kiosk.school.queries import iso_local, local_iso

    monkeypatch.setattr(status, "_MINUTES_KEPT", 5)
    convert = local_iso(config)
    moments = [datetime(2026, 10, 25, 0, 0) + timedelta(seconds=n * 97, microseconds=n)
               for n in range(200)]
    random.Random(9).shuffle(moments)
    for moment in moments + sorted(moments) + [datetime(9999, 12, 31, 23, 59, 59)]:
        assert convert(moment) == iso_local(moment, config), moment


@pytest.mark.parametrize("args", [
    ["--since", "2026-10-25T01:30"],  # local, in the repeated hour of the autumn change
    ["--kind", "collect", "--kind", "refused"],
    ["--since", "2026-03-29", "--kind", "deposit"],
])
def test_events_json_reads_plain_tuples_as_event_rows_filters_them(config_file, config, db,
                                                                   monkeypatch, args):
    """``events --json`` reads the DBAPI's tuples (SQLite's stored text of ``at``, 0 and
    1 of ``clock_suspect``), not event_rows' Row objects: the same events, the same bytes."""
    from kiosk.cli.base import emit_json_list
    from kiosk.cli.school import _parse_since
    from kiosk.school.queries import event_dict, local_iso

    _history(db, days=2, pupils=3)
    with db.session() as session:
        for n, at in enumerate(CLOCK_TIMES):
            record_event(session, (Kind.DEPOSIT, Kind.COLLECT, Kind.REFUSED)[n % 3], at=at,
                         clock_suspect=bool(n % 2), reason="too_early" if n % 3 == 2 else None)
        session.commit()
    since = _parse_since(args[1], config) if args[0] == "--since" else None
    kinds = [value for flag, value in pairwise(args) if flag == "--kind"] or None

    @click.command()
    def expected_output():
        with db.session() as session:
            rows = status.event_rows(session, since=since, kinds=kinds)
            emit_json_list(event_dict(row, config, local_iso(config)) for row in rows)

    expected = CliRunner().invoke(expected_output).output
    read = []
    monkeypatch.setattr(status, "event_rows", lambda *a, **k: read.append(a) or [])
    result = CliRunner().invoke(cli, ["events", "--json", *args, "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert read == []  # not through event_rows
    assert result.output == expected and len(json.loads(expected)) >= 2
    assert '"clock_suspect": true' in expected and '"clock_suspect": false' in expected


#: UTC instants either side of the UK's clock changes in 2026
CLOCK_TIMES = [datetime(2026, 3, 29, 0, 59, 59), datetime(2026, 3, 29, 1, 0, 0),
               datetime(2026, 10, 25, 0, 59, 59), datetime(2026, 10, 25, 1, 0, 1),
               datetime(2026, 10, 25, 1, 59, 30), datetime(2026, 10, 25, 0, 30, 0, 5)]
