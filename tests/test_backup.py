"""Backup and restore.

Real SQLite files in tmp_path; the commands are run through click's CliRunner
with ``--config`` pointing at a TOML file, as an administrator would run them.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.locker.daemon import build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import KioskStatus, Pupil
from kiosk.timeutil import utcnow

from .conftest import write_config
from .maintenance_helpers import UIDS, count, db_path, dump, integrity, invoke, make_pupil

UNKNOWN = "04FFFFFFFFFFFF"


def test_backup_during_taps_is_consistent_and_restores_identically(tmp_path, mock_factory):
    config_file = write_config(tmp_path, '[policy]\ncollect_from = "00:00"\n')
    config = load_config(config_file)
    live = db_path(config)
    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    with db.session() as session:
        for index, uid in enumerate(UIDS):
            make_pupil(session, f"Pupil {index}", 6, "6K", uid)
        session.commit()
    # Some history, so the copy takes a moment while the taps keep coming.
    raw = sqlite3.connect(live)
    raw.executemany(
        "INSERT INTO events (at, kind, locker_id, reason, clock_suspect) VALUES (?, ?, ?, ?, 0)",
        [("2026-01-05 08:00:00.000000", "reader_ok", "locker-1", "x" * 200)] * 20000,
    )
    raw.commit()
    raw.close()

    hardware = build_hardware(config, pin_factory=mock_factory)
    service = KioskService(config, db, hardware)
    stop = threading.Event()
    commits: list[float] = []
    errors: list[BaseException] = []

    def taps():
        moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        index = 0
        try:
            while not stop.is_set():
                uid = UNKNOWN if index % 7 == 6 else UIDS[index % len(UIDS)]
                outcome = service.tap(uid, now=moment)  # deposit/collect alternately, or refused
                assert outcome.event_id is not None
                commits.append(time.monotonic())
                index += 1
                moment += timedelta(seconds=90)  # past the debounce and the grace period
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=taps, daemon=True)
    writer.start()
    backups, windows = [], []
    try:
        for number in range(3):
            before = len(commits)
            while len(commits) < before + 20 and writer.is_alive():
                time.sleep(0.005)
            dest = tmp_path / f"backup-{number}.db"
            started = time.monotonic()
            result = invoke(config_file, "backup", str(dest))
            windows.append((started, time.monotonic()))
            assert result.exit_code == 0, result.output
            assert f"backup written to {dest}" in result.output
            assert "integrity check: ok" in result.output
            backups.append((dest, result.output))
        before = len(commits)
        while len(commits) < before + 20 and writer.is_alive():
            time.sleep(0.005)
    finally:
        stop.set()
        writer.join(timeout=10)
        hardware.close()
    assert not errors, errors
    # The taps really were being written while the backups ran.
    assert any(start <= at <= end for at in commits for start, end in windows)

    live_dump = dump(live)
    live_events = {row[0]: row for row in live_dump["events"]}
    for dest, output in backups:
        assert integrity(dest) == ["ok"]
        assert stat.S_IMODE(dest.stat().st_mode) == 0o600
        assert not Path(f"{dest}-wal").exists()
        copy = dump(dest)
        ids = [row[0] for row in copy["events"]]
        top = max(ids)
        # A consistent snapshot: every event up to the newest one, whole rows, nothing after.
        assert ids == list(range(1, top + 1))
        assert copy["events"] == [live_events[i] for i in ids]
        assert 20000 < top < max(live_events)
        assert f"({dest.stat().st_size} bytes)" in output
        assert f"events: {len(ids)} " in output
        # Holdings were committed with their events: they agree in the copy.
        holdings = {row[0]: row for row in copy["holdings"]}
        last_kind: dict[int, str] = {}
        for row in copy["events"]:
            if row[2] in ("deposit", "collect"):
                last_kind[row[3]] = row[2]
        assert last_kind, "the copy holds taps"
        for pupil_id, kind in last_kind.items():
            assert (pupil_id in holdings) == (kind == "deposit")
        for pupil_id, holding in holdings.items():
            event = live_events[holding[4]]
            assert event[2] == "deposit" and event[3] == pupil_id and event[0] <= top

    # Restore the middle backup over the (busier) live database: no kiosk heartbeat.
    source, _ = backups[1]
    events_before_restore = len(live_events)
    db.dispose()
    result = invoke(config_file, "restore", str(source), "--yes")
    assert result.exit_code == 0, result.output
    assert "no fresh kiosk heartbeat" in result.output
    assert dump(live) == dump(source)
    assert integrity(live) == ["ok"]
    kept = list(tmp_path.glob("phonelocker.db.before-restore-*"))
    assert len(kept) == 1 and f"previous database kept at {kept[0]}" in result.output
    assert integrity(kept[0]) == ["ok"]
    assert len(dump(kept[0])["events"]) == events_before_restore
    # The restored database is usable by the application as it is.
    reopened = Database(config.database.url)
    reopened.check()
    with reopened.session() as session:
        record_event(session, Kind.KIOSK_STARTED, locker_id="locker-1")
        session.commit()
    reopened.dispose()


def _heartbeat(db: Database, *, age: float, stopped: bool) -> None:
    with db.session() as session:
        now = utcnow()
        session.merge(KioskStatus(
            locker_id="locker-1", updated_at=now - timedelta(seconds=age), started_at=now,
            stopped_at=now if stopped else None,
        ))
        session.commit()


def _backup_then_add_a_pupil(config_file, db: Database, tmp_path) -> Path:
    """A backup holding Amara only; the live database then also gets Harry."""
    with db.session() as session:
        make_pupil(session, "Amara", 6, "6K", UIDS[0])
        session.commit()
    backup = tmp_path / "before.db"
    assert invoke(config_file, "backup", str(backup)).exit_code == 0
    with db.session() as session:
        make_pupil(session, "Harry", 6, "6K", UIDS[1])
        session.commit()
    return backup


def test_restore_refuses_while_the_kiosk_heartbeat_is_fresh(config_file, config, db, tmp_path):
    backup = _backup_then_add_a_pupil(config_file, db, tmp_path)
    _heartbeat(db, age=1, stopped=False)
    before = dump(db_path(config))

    result = invoke(config_file, "restore", str(backup), "--yes")

    assert result.exit_code == 1
    assert "the kiosk is running: locker-1" in result.output
    assert dump(db_path(config)) == before
    assert not list(tmp_path.glob("*.before-restore-*"))


@pytest.mark.parametrize(("age", "stopped"), [(1, True), (3600, False)])
def test_restore_goes_ahead_when_the_kiosk_stopped_or_went_silent(
    config_file, config, db, tmp_path, age, stopped
):
    backup = _backup_then_add_a_pupil(config_file, db, tmp_path)
    _heartbeat(db, age=age, stopped=stopped)

    declined = invoke(config_file, "restore", str(backup), input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert count(db, Pupil) == 2
    result = invoke(config_file, "restore", str(backup), input="y\n")

    assert result.exit_code == 0, result.output
    assert dump(db_path(config)) == dump(backup)
    assert count(db, Pupil) == 1


def test_restore_rejects_what_is_not_a_sound_phone_locker_backup(config_file, config, db,
                                                                 tmp_path):
    before = dump(db_path(config))
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database at all, just some notes\n" * 10)
    bare = tmp_path / "bare.db"
    connection = sqlite3.connect(bare)
    connection.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    future = tmp_path / "future.db"
    assert invoke(config_file, "backup", str(future)).exit_code == 0
    connection = sqlite3.connect(future)
    connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.commit()
    connection.close()
    cases = {
        tmp_path / "missing.db": "no such file",
        text_file: "not an SQLite database",
        bare: "no alembic_version",
        future: "revision 9999",
    }
    for source, message in cases.items():
        result = invoke(config_file, "restore", str(source), "--yes")
        assert result.exit_code == 1, (source, result.output)
        assert message in result.output
    assert dump(db_path(config)) == before
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_backup_refuses_to_overwrite_without_force_and_other_databases(
    config_file, config, db, tmp_path
):
    with db.session() as session:
        make_pupil(session, "Amara", 6, "6K", UIDS[0])
        session.commit()
    dest = tmp_path / "nightly.db"
    dest.write_bytes(b"an older backup")

    refused = invoke(config_file, "backup", str(dest))
    assert refused.exit_code == 1 and "already exists (use --force" in refused.output
    assert dest.read_bytes() == b"an older backup"

    forced = invoke(config_file, "backup", str(dest), "--force")
    assert forced.exit_code == 0, forced.output
    assert dump(dest) == dump(db_path(config)) and integrity(dest) == ["ok"]

    folder = tmp_path / "backups"
    folder.mkdir()
    into_folder = invoke(config_file, "backup", str(folder))
    assert into_folder.exit_code == 0
    [made] = folder.glob("phonelocker-*.db")
    assert dump(made) == dump(db_path(config))

    over_live = invoke(config_file, "backup", str(db_path(config)), "--force")
    assert over_live.exit_code == 1 and "over the live database" in over_live.output

    (tmp_path / "pg").mkdir()
    postgres = write_config(
        tmp_path / "pg", '[database]\nurl = "postgresql+psycopg://u:p@db.invalid/pl"\n'
    )
    for args in (["backup", str(tmp_path / "pg.db")], ["restore", str(dest), "--yes"]):
        result = invoke(postgres, *args)
        assert result.exit_code == 1
        assert "use pg_dump for PostgreSQL" in result.output
