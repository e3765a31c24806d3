"""kiosk.store.runtime_status: where the status file lives, what an error means, when it counts."""

from __future__ import annotations

import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from kiosk.config import Config, DatabaseConfig, LockerConfig, parse_config
from kiosk.store.runtime_status import (
    DISK_ERROR,
    DISK_FULL,
    READ_ONLY,
    current_fault,
    read_status,
    status_path,
    with_faults,
    write_problem,
    write_status,
)

NOW = datetime(2026, 3, 29, 0, 59, 58, tzinfo=UTC)  # a minute before the UK clock change


def sqlite_error(tmp_path, *statements: str) -> BaseException:
    """The error SQLite itself raises for the last of ``statements`` (through SQLAlchemy)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    except Exception as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("no error")


def test_sqlite_full_is_disk_full(tmp_path):
    error = sqlite_error(
        tmp_path, "CREATE TABLE t (x BLOB)", "PRAGMA max_page_count = 1",
        "INSERT INTO t VALUES (zeroblob(100000))",
    )
    assert isinstance(error, OperationalError) and "database or disk is full" in str(error)
    assert write_problem(error) == DISK_FULL == "cannot record taps: disk full"


def test_read_only_database(tmp_path):
    error = sqlite_error(tmp_path, "CREATE TABLE t (x)", "PRAGMA query_only = 1",
                         "INSERT INTO t VALUES (1)")
    assert write_problem(error) == READ_ONLY


def test_io_error_is_disk_full_only_when_the_disk_has_no_space():
    error = OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))
    assert write_problem(error, free_bytes=10 * 1024**3) == DISK_ERROR
    assert write_problem(error, free_bytes=4096) == DISK_FULL


def test_a_bug_or_a_constraint_is_not_a_write_fault(tmp_path):
    error = sqlite_error(tmp_path, "CREATE TABLE t (x UNIQUE)", "INSERT INTO t VALUES (1)",
                         "INSERT INTO t VALUES (1)")
    assert isinstance(error, IntegrityError)
    assert write_problem(error) is None
    assert write_problem(TypeError("bug")) is None


def test_status_file_place(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    sqlite = Config(database=DatabaseConfig(url=f"sqlite:///{tmp_path}/pl.db"))
    monkeypatch.setattr("kiosk.store.runtime_status.SYSTEM_RUNTIME_DIRECTORY", tmp_path / "none")
    # the dev/test default: beside the database file
    assert status_path(sqlite, {}) == tmp_path / "pl.db.status.json"
    # an installed Pi: the kiosk's RuntimeDirectory, which the dashboard finds too
    monkeypatch.setattr("kiosk.store.runtime_status.SYSTEM_RUNTIME_DIRECTORY", tmp_path)
    assert status_path(sqlite, {}) == tmp_path / "status.json"
    assert status_path(sqlite, {"RUNTIME_DIRECTORY": "/run/phonelocker:/run/other"}) == \
        Path("/run/phonelocker/status.json")
    chosen = replace(sqlite, locker=LockerConfig(status_file=str(tmp_path / "s.json")))
    assert status_path(chosen, {"RUNTIME_DIRECTORY": "/run/x"}) == tmp_path / "s.json"
    parsed = parse_config({"locker": {"status_file": "/run/phonelocker/status.json"}})
    assert parsed.locker.status_file == "/run/phonelocker/status.json"


def test_write_is_atomic_and_group_readable(tmp_path):
    path = tmp_path / "run" / "status.json"
    write_status(path, {"ok": True})
    write_status(path, {"ok": False, "problem": DISK_FULL})
    assert read_status(path) == {"ok": False, "problem": DISK_FULL}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary left
    path.write_text("{not json")
    assert read_status(path) is None


@pytest.fixture
def fault_config(tmp_path):
    return Config(locker=LockerConfig(status_file=str(tmp_path / "status.json")))


def fault_file(config, *, age: float, locker: str = "locker-1", ok: bool = False):
    write_status(status_path(config), {
        "locker_id": locker, "written_at": (NOW - timedelta(seconds=age)).isoformat(),
        "ok": ok, "problem": None if ok else DISK_FULL, "reader_ok": True,
        "bays": [{"bay": 1, "locked": True, "door": "closed"}], "leds": {"red": True},
    })


def test_only_a_fresh_fault_for_this_locker_counts(fault_config):
    assert current_fault(fault_config, "locker-1", NOW) is None  # no file
    fault_file(fault_config, age=3)
    assert current_fault(fault_config, "locker-1", NOW)["problem"] == DISK_FULL
    assert current_fault(fault_config, "locker-2", NOW) is None
    fault_file(fault_config, age=60)  # the kiosk is not running any more
    assert current_fault(fault_config, "locker-1", NOW) is None
    fault_file(fault_config, age=0, ok=True)
    assert current_fault(fault_config, "locker-1", NOW) is None


def test_a_stale_heartbeat_takes_the_lock_state_from_the_file(fault_config):
    fault_file(fault_config, age=1)
    stale = {"id": "locker-1", "online": False, "reader_ok": False, "leds": {},
             "bays": [{"bay": 1, "locked": False, "door": "closed"}]}
    fresh = {**stale, "id": "locker-1", "online": True,
             "bays": [{"bay": 1, "locked": False, "door": "open"}]}
    [shown] = with_faults([dict(stale)], fault_config, NOW)
    assert shown["problem"] == DISK_FULL and shown["state_from"] == "status file"
    assert shown["bays"] == [{"bay": 1, "locked": True, "door": "closed"}]
    assert shown["reader_ok"] is True
    [live] = with_faults([dict(fresh)], fault_config, NOW)
    assert live["problem"] == DISK_FULL and live["bays"] == fresh["bays"]  # the heartbeat's
