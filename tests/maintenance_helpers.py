"""Helpers shared by the backup, retention, export and rollover tests.

Real SQLite files in tmp_path; the commands are run through click's CliRunner
with ``--config`` pointing at a TOML file, as an administrator would run them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from kiosk.cli.main import cli
from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database


def invoke(config_file: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, [*args, "--config", str(config_file)], input=input)


def db_path(config) -> Path:
    return Path(config.database.url.removeprefix("sqlite:///"))


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every user table of an SQLite file, row for row, plus the schema."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        result = {name: connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
                  for name in tables}
        result["__schema__"] = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        return result
    finally:
        connection.close()


def integrity(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


def count(db: Database, model) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def make_pupil(session, name, year, class_name, uid=None, **extra):
    pupil = add_pupil(session, name=name, year=year, class_name=class_name, card_uid=uid,
                      actor="test")
    for key, value in extra.items():
        setattr(pupil, key, value)
    session.flush()
    return pupil


UIDS = [f"04{index:012X}" for index in range(1, 13)]
