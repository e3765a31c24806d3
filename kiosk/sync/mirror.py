"""Make a table on the kiosk hold exactly the central database's rows (the roll).

The central rows are compared with the local ones by primary key and only the
differences are written, in one short local transaction: a change to one
pupil writes one row, not 2,000, so the SD card and the tap path barely notice.
Rows that others point at (pupils, lockers) are updated where they are; a
deleted pupil is deleted here too (its cards and holding go with it, as they
did centrally). Other rows are replaced (deleted, then inserted), which keeps
the unique indexes (one active card per UID, one entry per calendar day)
satisfied at every step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, select

from kiosk.store.models import Base

#: the roll, parents first: what the office owns and every kiosk copies down
ROLL_TABLES = (
    "lockers", "bays", "pupils", "cards", "year5_approvals", "early_releases",
    "pupil_exceptions", "calendar_days",
)
#: rows other tables point at: updated in place, so nothing cascades
IN_PLACE = frozenset({"lockers", "pupils"})
#: columns that are unique: cleared on rows about to change, so two rows may swap values
UNIQUE_COLUMNS = {"pupils": ("external_id",)}
CHUNK = 500


def table(name: str) -> Table:
    return Base.metadata.tables[name]


@contextmanager
def local_write(engine: Engine) -> Iterator[Connection]:
    """A transaction on the kiosk's database that holds the write lock from its start.

    It reads, then writes what it read: on SQLite it must take the lock up front
    (``BEGIN IMMEDIATE``) or a tap committed between the two would fail it (see
    kiosk/store/db.py). It waits on busy_timeout like any writer.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.rollback()
            raise
        connection.commit()


@contextmanager
def local_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: every read in it sees the same moment (SQLite ``BEGIN``)."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        finally:
            connection.rollback()


@dataclass
class Changes:
    """What :func:`plan` found to do for one table (rows as dicts, keyed by column)."""

    delete: list[Any] = field(default_factory=list)
    update: list[dict] = field(default_factory=list)
    insert: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.delete) + len(self.update) + len(self.insert)


def rows_by_id(connection: Connection, name: str, where=None) -> dict[Any, tuple]:
    """Every row of ``name`` (optionally filtered) as ``{id: row tuple}``."""
    query = select(table(name))
    if where is not None:
        query = query.where(where)
    return {row[0]: tuple(row) for row in connection.execute(query)}


def plan(name: str, central: dict[Any, tuple], local: dict[Any, tuple],
         keep: Iterable[Any] = ()) -> Changes:
    """The writes that make ``local`` equal ``central`` (``keep``: ids never deleted)."""
    columns = [column.name for column in table(name).columns]
    kept = set(keep)
    changes = Changes()
    in_place = name in IN_PLACE
    for key, row in local.items():
        if key not in central:
            if key not in kept:
                changes.delete.append(key)
        elif central[key] != row and not in_place:
            changes.delete.append(key)
            changes.insert.append(dict(zip(columns, central[key], strict=True)))
        elif central[key] != row:
            changes.update.append(dict(zip(columns, central[key], strict=True)))
    for key, row in central.items():
        if key not in local:
            changes.insert.append(dict(zip(columns, row, strict=True)))
    return changes


def apply_deletes(connection: Connection, name: str, changes: Changes) -> None:
    target = table(name)
    for start in range(0, len(changes.delete), CHUNK):
        ids = changes.delete[start:start + CHUNK]
        connection.execute(target.delete().where(target.c.id.in_(ids)))


def apply_upserts(connection: Connection, name: str, changes: Changes) -> None:
    target = table(name)
    if changes.update:
        for column in UNIQUE_COLUMNS.get(name, ()):
            connection.execute(
                target.update().where(target.c.id == bindparam("_id")).values({column: None}),
                [{"_id": row["id"]} for row in changes.update],
            )
        others = [column.name for column in target.columns if column.name != "id"]
        statement = target.update().where(target.c.id == bindparam("_id")).values(
            {column: bindparam(column) for column in others}
        )
        connection.execute(
            statement, [{"_id": row["id"], **{c: row[c] for c in others}} for row in changes.update]
        )
    for start in range(0, len(changes.insert), CHUNK):
        connection.execute(target.insert(), changes.insert[start:start + CHUNK])


def mirror(central: Connection, engine: Engine, names: Iterable[str],
           keep: dict[str, set] | None = None) -> int:
    """Copy the central rows of the tables ``names`` (in :data:`ROLL_TABLES` order) to
    the kiosk's database in one transaction; returns how many rows were written.

    ``keep`` names ids per table that stay even when the central database lacks
    them (this kiosk's own locker, before it has been sent up).
    """
    wanted = [name for name in ROLL_TABLES if name in set(names)]
    fetched = {name: rows_by_id(central, name) for name in wanted}
    written = 0
    with local_write(engine) as local:
        changes = {
            name: plan(name, fetched[name], rows_by_id(local, name), (keep or {}).get(name, ()))
            for name in wanted
        }
        for name in reversed(wanted):  # children first
            apply_deletes(local, name, changes[name])
        for name in wanted:  # parents first
            apply_upserts(local, name, changes[name])
            written += len(changes[name])
    return written
