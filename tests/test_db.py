"""Storage: migrations, SQLite settings and file modes."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import inspect

from kiosk.store.db import BUSY_TIMEOUT_MS, SCHEMA_REVISION, Database, DatabaseError, head_revision
from kiosk.store.models import Base


def test_schema_revision_constant_matches_alembic_head():
    assert head_revision() == SCHEMA_REVISION


def test_upgrade_creates_every_model_table(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/pl.db")
    db.upgrade()
    db.check()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    db.upgrade()  # a second upgrade is a no-op
    db.check()


def test_sqlite_is_tuned_for_durability(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/pl.db")
    with db.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS == 15000


def test_new_database_file_is_group_writable(tmp_path):
    Database(f"sqlite:///{tmp_path}/sub/pl.db").upgrade()
    mode = stat.S_IMODE((tmp_path / "sub" / "pl.db").stat().st_mode)
    assert mode == 0o660


def test_check_names_the_fix(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/pl.db")
    with pytest.raises(DatabaseError, match="phonelocker db upgrade"):
        db.check()
