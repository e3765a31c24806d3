"""``phonelocker maintenance``: the nightly purge, backup and rotation, on real SQLite files."""

from __future__ import annotations

import re
import sqlite3
import stat
from datetime import timedelta

from sqlalchemy import select

from kiosk.care.retention import subtract_months
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Event
from kiosk.timeutil import utcnow

from .maintenance_helpers import UIDS, db_path, integrity, invoke, make_pupil

NIGHTLY = re.compile(r"phonelocker-nightly-\d{8}T\d{6}Z\.db")


def _school_with_an_old_event(db) -> None:
    now = utcnow()
    with db.session() as session:
        pupil = make_pupil(session, "Amara Okafor", 6, "6K", UIDS[0])
        record_event(session, Kind.DEPOSIT, at=subtract_months(now, 14), pupil_id=pupil.id,
                     card_uid=UIDS[0], locker_id="locker-1", bay=1)
        record_event(session, Kind.DEPOSIT, at=now - timedelta(days=1), pupil_id=pupil.id,
                     card_uid=UIDS[0], locker_id="locker-1", bay=1)
        session.commit()


def _event_times(path) -> list:
    from kiosk.store.db import Database

    database = Database(f"sqlite:///{path}")
    try:
        with database.session() as session:
            return session.scalars(select(Event.at).where(Event.kind == "deposit")).all()
    finally:
        database.dispose()


def test_purges_first_then_backs_up_and_rotates_only_its_own_backups(config_file, db, tmp_path):
    _school_with_an_old_event(db)
    folder = tmp_path / "backups"
    folder.mkdir()
    old_nightly = [folder / f"phonelocker-nightly-202401{day:02d}T023000Z.db" for day in (1, 2, 3)]
    by_hand = [folder / "phonelocker-20240101T120000Z.db", folder / "before-rollover.db",
               folder / "notes.txt"]
    for path in old_nightly + by_hand:
        path.write_text("older")

    result = invoke(config_file, "maintenance", "--backup-dir", str(folder), "--keep", "3")

    assert result.exit_code == 0, result.output
    assert "removed 1 event(s) older than 13 months" in result.output
    made = [path for path in folder.iterdir() if NIGHTLY.fullmatch(path.name)
            and path not in old_nightly]
    assert len(made) == 1 and f"backup written to {made[0]}" in result.output
    assert integrity(made[0]) == ["ok"]
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o600
    # The purge ran first: the backup holds only the recent hand-in.
    assert len(_event_times(made[0])) == 1
    # Three nightly backups kept (the new one and the two newest old ones); nothing else touched.
    assert not old_nightly[0].exists() and old_nightly[1].exists() and old_nightly[2].exists()
    assert f"removed old backup {old_nightly[0].name} (keeping the newest 3)" in result.output
    assert all(path.exists() for path in by_hand)


def test_default_folder_is_a_private_backups_folder_beside_the_database(config_file, config, db):
    result = invoke(config_file, "maintenance")
    assert result.exit_code == 0, result.output
    folder = db_path(config).parent / "backups"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [path.name for path in folder.iterdir() if NIGHTLY.fullmatch(path.name)]


def test_a_failed_purge_still_gets_its_backup_and_exits_1(config_file, config, db, monkeypatch):
    # A purge cannot be made to fail on a healthy file, so this one step is faked.
    import kiosk.care.retention

    def broken_purge(*_args, **_kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(kiosk.care.retention, "purge", broken_purge)
    result = invoke(config_file, "maintenance")

    assert result.exit_code == 1
    assert "purge failed: database is locked" in result.output
    assert "backup written to" in result.output
    assert list((db_path(config).parent / "backups").glob("phonelocker-nightly-*.db"))


def test_keep_must_be_at_least_one(config_file, db):
    result = invoke(config_file, "maintenance", "--keep", "0")
    assert result.exit_code == 2 and "--keep" in result.output
