"""SQLite database files: finding them, looking inside, and copying them whole.

Shared by :mod:`kiosk.care.backup` and :mod:`kiosk.care.restore`. Copies use
SQLite's online backup API (``sqlite3.Connection.backup``), never a file copy:
a copy of a WAL database taken while the kiosk writes can miss the ``-wal``
file or catch a page half-written, and the backup API reads one consistent
snapshot however many taps arrive meanwhile. PostgreSQL has ``pg_dump`` for that.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from kiosk.errors import MaintenanceError
from kiosk.store.db import BUSY_TIMEOUT_MS, sqlite_file

SQLITE_HEADER = b"SQLite format 3\x00"
#: the same wait for a busy database as every other connection (kiosk/store/db.py)
BUSY_TIMEOUT_SECONDS = BUSY_TIMEOUT_MS / 1000


# --- SQLite files -----------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    """The file behind an SQLite URL; any other database is refused with a pointer."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise MaintenanceError(f"cannot read the database URL: {error}") from None
    backend = parsed.get_backend_name()
    if backend != "sqlite":
        hint = "use pg_dump for PostgreSQL" if backend.startswith("postgres") else (
            "use your database's own backup tool"
        )
        raise MaintenanceError(
            f"only SQLite databases are supported here ({backend} configured): {hint}"
        )
    path = sqlite_file(url)
    if path is None:
        database = parsed.database or ":memory:"
        raise MaintenanceError(f"the SQLite database {database!r} is not a file")
    return path


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection that waits on locks; never creates a file unless asked."""
    mode = "rwc" if create else "rw"
    uri = f"file:{_uri_path(path)}?mode={mode}"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    return connection


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def fsync(path: Path) -> None:
    """Flush a file (or directory) to the disk; ignored where the OS cannot."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def integrity_check(connection: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check``: ``["ok"]`` for a sound database, else the problems."""
    return [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


@dataclass(frozen=True)
class DatabaseFacts:
    """What a look inside an SQLite file found."""

    path: Path
    size: int
    integrity: list[str]
    revision: str | None
    events: int | None
    max_event_id: int | None
    newest_event_at: str | None
    pupils: int | None

    @property
    def ok(self) -> bool:
        return self.integrity == ["ok"]


def inspect_sqlite(path: Path, connection: sqlite3.Connection | None = None) -> DatabaseFacts:
    """Integrity, migration revision and event counts of an SQLite database file."""
    own = connection is None
    if own:
        if not path.is_file():
            raise MaintenanceError(f"{path}: no such file")
        if not is_sqlite_file(path):
            raise MaintenanceError(f"{path}: not an SQLite database")
        connection = connect(path)
    try:
        try:
            integrity = integrity_check(connection)
            tables = _tables(connection)
        except sqlite3.DatabaseError as error:
            raise MaintenanceError(f"{path}: cannot read the database ({error})") from None
        revision = events = max_id = newest = pupils = None
        if "alembic_version" in tables:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        if "events" in tables:
            events, max_id, newest = connection.execute(
                "SELECT count(*), max(id), max(at) FROM events"
            ).fetchone()
        if "pupils" in tables:
            pupils = connection.execute("SELECT count(*) FROM pupils").fetchone()[0]
    finally:
        if own:
            connection.close()
    return DatabaseFacts(
        path=path,
        size=path.stat().st_size,
        integrity=integrity,
        revision=revision,
        events=events,
        max_event_id=max_id,
        newest_event_at=newest,
        pupils=pupils,
    )


def copy_database(source: Path, target: Path, *, create: bool) -> None:
    """Copy ``source`` onto ``target`` with the online backup API (one consistent snapshot).

    ``pages=-1`` copies every page in a single step under one read transaction,
    so writers carrying on in WAL mode cannot make the copy restart or tear.
    """
    src = connect(source)
    try:
        dst = connect(target, create=create)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


def remove_sidecars(path: Path) -> None:
    """Delete stale ``-wal``/``-shm``/``-journal`` files that would be replayed onto ``path``."""
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def is_sqlite_url(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "sqlite"
    except Exception:
        return False


def standalone_copy(source: Path, dest: Path, *, inspect: bool = False):
    """Copy ``source`` to a new self-contained file ``dest`` (no -wal/-shm needed).

    On any failure ``dest`` and its side files are removed and the error
    re-raised. With ``inspect``, return the copy's :class:`DatabaseFacts`.
    """
    try:
        copy_database(source, dest, create=True)
        connection = connect(dest)
        try:
            connection.execute("PRAGMA journal_mode=DELETE")
            return inspect_sqlite(dest, connection) if inspect else None
        finally:
            connection.close()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        remove_sidecars(dest)
        raise
