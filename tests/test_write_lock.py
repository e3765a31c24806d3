"""Writers and the SQLite write lock: every connection waits, bulk writers take the lock
up front and notice what changed after they read, the purge goes in short chunks."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import kiosk.care.retention
import kiosk.care.rollover
import kiosk.school.importer
from kiosk.care.retention import purge
from kiosk.care.rollover import apply_rollover, plan_rollover
from kiosk.care.sqlite_files import connect
from kiosk.errors import MaintenanceError
from kiosk.school.importer import apply_import
from kiosk.school.pupil_csv import parse_pupils_csv
from kiosk.school.pupils import add_pupil
from kiosk.store.db import BUSY_TIMEOUT_MS, Database, begin_write
from kiosk.store.models import Event, Pupil


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    database.upgrade()
    yield database
    database.dispose()


def db_file(db: Database) -> str:
    return db.engine.url.database


class Holder(threading.Thread):
    """Another process's writer: holds the write lock for ``seconds``, then commits a row."""

    def __init__(self, path: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.seconds = path, seconds
        self.locked = threading.Event()
        self.committed_at: float | None = None

    def run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO pupils (name, year, class_name, active, created_at)"
            " VALUES ('Other Writer', 6, '6A', 1, '2026-01-01 00:00:00.000000')"
        )
        self.locked.set()
        time.sleep(self.seconds)
        connection.execute("COMMIT")
        self.committed_at = time.monotonic()
        connection.close()


def test_every_connection_waits_15_seconds_for_a_busy_database(db, tmp_path):
    with db.engine.connect() as connection:  # the ORM's, the dashboard's, the CLI's
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
    tap_path = db.engine.raw_connection()  # the kiosk's tap path (kiosk/store/prepared.py)
    try:
        assert tap_path.cursor().execute("PRAGMA busy_timeout").fetchone() == (15000,)
    finally:
        tap_path.close()
    backup = connect(Path(db_file(db)))  # backup and restore
    try:
        assert backup.execute("PRAGMA busy_timeout").fetchone() == (BUSY_TIMEOUT_MS,)
    finally:
        backup.close()


def test_a_deferred_read_then_write_fails_at_once_but_begin_write_waits(db):
    """The pysqlite finding: busy_timeout does not save a stale read snapshot."""
    path = db_file(db)
    with db.session() as session:  # seed a row so there is something to read
        add_pupil(session, name="Amy Smith", year=6, class_name="6A", actor="office")
        session.commit()

    deferred = sqlite3.connect(path, timeout=15, isolation_level=None)
    deferred.execute("BEGIN")  # deferred, as SQLAlchemy's "begin" recipes emit
    deferred.execute("SELECT count(*) FROM pupils").fetchone()
    holder = Holder(path, 0.2)
    holder.start()
    holder.join()
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        deferred.execute("UPDATE pupils SET year = 5")
    assert time.monotonic() - started < 1  # it did not wait at all
    deferred.close()

    holder = Holder(path, 0.5)
    holder.start()
    holder.locked.wait(5)
    with db.session() as session:
        begin_write(session)  # waits for the holder's commit...
        assert holder.committed_at is not None and time.monotonic() >= holder.committed_at
        # ...and reads what it committed, then writes in the same transaction.
        count = session.scalar(select(func.count()).select_from(Pupil))
        session.add(Pupil(name="Ben Jones", year=6, class_name="6A", active=True))
        session.commit()
    holder.join()
    assert count == 3  # the seed and both holders


def test_import_matches_a_pupil_added_after_it_read_the_pupils(db, monkeypatch):
    """Between the import's read and its write lock, the office adds a pupil with the UPN
    the file has: the import sees it under the lock and updates instead of duplicating."""
    real_begin_write = kiosk.school.importer.begin_write

    def office_adds_then_lock(session):
        with db.session() as office:
            add_pupil(office, name="Amy Smyth", year=6, class_name="6A", actor="office",
                      external_id="A1", card_uid="04A1B2C3")
            office.commit()
        real_begin_write(session)

    monkeypatch.setattr(kiosk.school.importer, "begin_write", office_adds_then_lock)
    plan = parse_pupils_csv(b"UPN,Name,Year,Class\nA1,Amy Smith,6,6A\nB1,Ben Jones,6,6A\n")
    with db.session() as session:
        result = apply_import(session, plan, actor="import")
        session.commit()

    assert [(o.action, o.changes) for o in result.rows] == [("update", ["name"]), ("create", [])]
    with db.session() as session:
        names = session.scalars(select(Pupil.name).order_by(Pupil.id)).all()
        assert names == ["Amy Smith", "Ben Jones"]
        (imported,) = session.scalars(select(Event.reason).where(Event.kind == "import"))
        assert imported == "1 created, 1 updated, 0 unchanged"


def test_rollover_refuses_if_a_pupil_changed_after_the_plan(db, monkeypatch):
    with db.session() as session:
        add_pupil(session, name="Amy Smith", year=4, class_name="4A", actor="office")
        session.commit()
    real_begin_write = kiosk.care.rollover.begin_write

    def office_edits_then_lock(session):
        with db.session() as office:
            office.scalars(select(Pupil)).one().year = 5
            office.commit()
        real_begin_write(session)

    monkeypatch.setattr(kiosk.care.rollover, "begin_write", office_edits_then_lock)
    with db.session() as session:
        plan = plan_rollover(session)
        with pytest.raises(MaintenanceError, match="changed while the rollover"):
            apply_rollover(session, plan, actor="Head")
        session.commit()
    with db.session() as session:
        assert session.scalars(select(Pupil.year)).all() == [5]  # the office's edit, kept
        assert session.scalar(select(func.count()).where(Event.kind == "rollover")) == 0


def test_purge_commits_in_chunks_and_a_rerun_finishes_an_interrupted_one(db, monkeypatch):
    monkeypatch.setattr(kiosk.care.retention, "EVENTS_PER_TRANSACTION", 10)
    monkeypatch.setattr(kiosk.care.retention, "PAUSE_S", 0)
    old = "2020-01-01 00:00:00.000000"
    with sqlite3.connect(db_file(db)) as connection:
        connection.executemany(
            "INSERT INTO events (at, kind, clock_suspect) VALUES (?, 'deposit', 0)",
            [(old,)] * 35,
        )
        connection.execute(
            "INSERT INTO pupils (name, year, class_name, active, created_at, left_at)"
            " VALUES ('Leaver', 6, '6L', 0, ?, ?)", (old, old),
        )
    commits = []
    real_remove = kiosk.care.retention._remove_leavers

    def power_cut(*args):
        raise RuntimeError("power cut")

    monkeypatch.setattr(kiosk.care.retention, "_remove_leavers", power_cut)
    with db.session() as session:
        real_commit = session.commit
        monkeypatch.setattr(session, "commit", lambda: (commits.append(1), real_commit()))
        with pytest.raises(RuntimeError, match="power cut"):
            purge(session, events_months=13, leavers_months=13)
        session.rollback()
    assert len(commits) == 4  # 10 + 10 + 10 + 5 old events, one transaction each
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        assert session.scalars(select(Pupil.name)).all() == ["Leaver"]  # untouched

    monkeypatch.setattr(kiosk.care.retention, "_remove_leavers", real_remove)
    with db.session() as session:
        result = purge(session, events_months=13, leavers_months=13)
        session.commit()
    assert (result.events, result.pupils) == (0, 1)
    with db.session() as session:
        assert session.scalars(select(Pupil.name)).all() == []
        assert session.scalars(select(Event.kind)).all() == ["purge"]
