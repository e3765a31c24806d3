"""Backup and restore of the SQLite database.

Pure domain functions; the click commands are in :mod:`kiosk.cli.care`.

Backup and restore use SQLite's online backup API (``sqlite3.Connection.backup``),
never a file copy: a copy of a WAL database taken while the kiosk writes can
miss the ``-wal`` file or catch a page half-written, and the backup API reads
one consistent snapshot however many taps arrive meanwhile. PostgreSQL has
``pg_dump`` for that.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kiosk.errors import MaintenanceError
from kiosk.school.heartbeats import fresh_heartbeat
from kiosk.store.db import BUSY_TIMEOUT_MS, sqlite_file
from kiosk.store.models import KioskStatus
from kiosk.timeutil import naive_utc

SQLITE_HEADER = b"SQLite format 3\x00"
#: the same wait for a busy database as every other connection (kiosk/store/db.py)
BUSY_TIMEOUT_SECONDS = BUSY_TIMEOUT_MS / 1000


# --- SQLite files -----------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    """The file behind an SQLite URL; any other database is refused with a pointer."""
    try:
        parsed = make_url(url)
    except Exception as error:  # noqa: BLE001 - sqlalchemy raises several kinds
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


def _connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection that waits on locks; never creates a file unless asked."""
    mode = "rwc" if create else "rw"
    uri = f"file:{_uri_path(path)}?mode={mode}"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    return connection


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def _is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _fsync(path: Path) -> None:
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
        if not _is_sqlite_file(path):
            raise MaintenanceError(f"{path}: not an SQLite database")
        connection = _connect(path)
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


def _copy_database(source: Path, target: Path, *, create: bool) -> None:
    """Copy ``source`` onto ``target`` with the online backup API (one consistent snapshot).

    ``pages=-1`` copies every page in a single step under one read transaction,
    so writers carrying on in WAL mode cannot make the copy restart or tear.
    """
    src = _connect(source)
    try:
        dst = _connect(target, create=create)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


def _remove_sidecars(path: Path) -> None:
    """Delete stale ``-wal``/``-shm``/``-journal`` files that would be replayed onto ``path``."""
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


# --- backup -----------------------------------------------------------------------


#: the nightly job's own backups; only these are rotated, so copies made by hand stay
NIGHTLY_PREFIX = "phonelocker-nightly"
_NIGHTLY_NAME = re.compile(rf"{NIGHTLY_PREFIX}-\d{{8}}T\d{{6}}Z\.db")


def is_sqlite_url(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "sqlite"
    except Exception:  # noqa: BLE001 - a bad URL is not SQLite; sqlite_path says why
        return False


def default_backup_name(now: datetime | None = None, prefix: str = "phonelocker") -> str:
    return f"{prefix}-{naive_utc(now):%Y%m%dT%H%M%SZ}.db"


def prune_nightly_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` nightly backups in ``folder``; return what went.

    Only files named like the nightly job's own (``phonelocker-nightly-…Z.db``)
    are counted or deleted: a backup made by hand in the same folder stays.
    """
    if keep < 1:
        raise MaintenanceError("keep at least one nightly backup")
    nightly = sorted(path for path in folder.iterdir() if _NIGHTLY_NAME.fullmatch(path.name))
    removed = nightly[:-keep]
    for path in removed:
        path.unlink()
    return removed


def _standalone_copy(source: Path, dest: Path, *, inspect: bool = False):
    """Copy ``source`` to a new self-contained file ``dest`` (no -wal/-shm needed).

    On any failure ``dest`` and its side files are removed and the error
    re-raised. With ``inspect``, return the copy's :class:`DatabaseFacts`.
    """
    try:
        _copy_database(source, dest, create=True)
        connection = _connect(dest)
        try:
            connection.execute("PRAGMA journal_mode=DELETE")
            return inspect_sqlite(dest, connection) if inspect else None
        finally:
            connection.close()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        _remove_sidecars(dest)
        raise


def backup_database(
    source: Path, dest: Path, *, force: bool = False, now: datetime | None = None
) -> DatabaseFacts:
    """Write a consistent, self-contained copy of the live database ``source`` to ``dest``.

    ``dest`` may be a directory (a timestamped file is made in it). The copy is
    written beside ``dest`` under a temporary name, switched to a rollback
    journal (one file, no ``-wal``), integrity-checked, flushed, and only then
    renamed into place, so ``dest`` is either absent or a checked backup.
    """
    if not source.is_file():
        raise MaintenanceError(f"no database at {source}")
    if not _is_sqlite_file(source):
        raise MaintenanceError(f"{source} is not an SQLite database")
    if dest.is_dir():
        dest = dest / default_backup_name(now)
    if not dest.parent.is_dir():
        raise MaintenanceError(f"{dest.parent}: no such folder")
    if dest.resolve() == source.resolve():
        raise MaintenanceError("the backup cannot be written over the live database")
    if dest.exists() and not force:
        raise MaintenanceError(f"{dest} already exists (use --force to overwrite it)")

    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    _remove_sidecars(partial)
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        facts = _standalone_copy(source, partial, inspect=True)
    except sqlite3.Error as error:
        raise MaintenanceError(f"backup failed: {error}") from None
    if not facts.ok:
        problems = "; ".join(facts.integrity[:5])
        raise MaintenanceError(
            f"the copy failed its integrity check ({problems}); it is kept at {partial} "
            "for inspection. The live database may be damaged."
        )
    os.chmod(partial, 0o600)  # personal data: only the owner may read a backup
    _fsync(partial)
    if force:
        _remove_sidecars(dest)
    os.replace(partial, dest)
    _fsync(dest.parent)
    return DatabaseFacts(**{**facts.__dict__, "path": dest, "size": dest.stat().st_size})


# --- restore ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunningKiosk:
    locker_id: str
    updated_at: datetime


def running_kiosks(
    session: Session, *, max_age: float, now: datetime | None = None
) -> list[RunningKiosk]:
    """Kiosks whose heartbeat is fresh (within ``max_age`` seconds) and not marked stopped.

    This is the only check: a kiosk hung for longer than ``max_age``, or the
    dashboard (which writes no heartbeat), is not detected.
    """
    now = naive_utc(now)
    rows = session.execute(
        select(KioskStatus.locker_id, KioskStatus.updated_at).where(
            fresh_heartbeat(now, max_age)
        )
    ).all()
    return [RunningKiosk(locker_id, updated_at) for locker_id, updated_at in rows]


def check_restore_source(source: Path, known_revisions: set[str]) -> DatabaseFacts:
    """Refuse anything but a sound Phone Locker SQLite database at a revision this code knows."""
    facts = inspect_sqlite(source)
    if not facts.ok:
        problems = "; ".join(facts.integrity[:5])
        raise MaintenanceError(f"{source} failed its integrity check: {problems}")
    if facts.revision is None:
        raise MaintenanceError(
            f"{source} has no alembic_version: it is not a Phone Locker database (or is empty)"
        )
    if facts.revision not in known_revisions:
        raise MaintenanceError(
            f"{source} is at schema revision {facts.revision}, which this version of Phone "
            "Locker does not know (a backup from newer software?)"
        )
    return facts


def known_revisions() -> set[str]:
    """Every schema revision this version of Phone Locker ships (a restore may need upgrading)."""
    from alembic.script import ScriptDirectory

    from kiosk.store.db import MIGRATIONS

    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def before_restore_path(target: Path, now: datetime | None = None) -> Path:
    stamp = f"{naive_utc(now):%Y%m%dT%H%M%SZ}"
    path = target.with_name(f"{target.name}.before-restore-{stamp}")
    counter = 1
    while path.exists():
        counter += 1
        path = target.with_name(f"{target.name}.before-restore-{stamp}-{counter}")
    return path


@dataclass(frozen=True)
class RestoreResult:
    restored: DatabaseFacts
    kept: Path | None


def restore_database(
    source: Path, target: Path, *, known_revisions: set[str], now: datetime | None = None
) -> RestoreResult:
    """Replace the contents of ``target`` with ``source`` (already checked by the caller too).

    The current database is first kept beside it as ``NAME.before-restore-STAMP``
    (a backup-API copy); then ``source`` is copied in with the backup API, which
    takes the database's write lock, so no connection sees a half-restored file.
    The caller must have checked that no kiosk is running.
    """
    check_restore_source(source, known_revisions)
    if target.exists() and source.resolve() == target.resolve():
        raise MaintenanceError("the backup is the live database itself")
    kept = None
    if target.exists():
        if not _is_sqlite_file(target) and target.stat().st_size > 0:
            raise MaintenanceError(
                f"{target} is not an SQLite database: move it away by hand and restore again"
            )
        kept = before_restore_path(target, now)
        try:
            _standalone_copy(target, kept)
        except sqlite3.Error as error:
            raise MaintenanceError(
                f"could not keep a copy of the current database ({error}); nothing restored. "
                f"If it is damaged, stop everything, move {target} away by hand and restore again."
            ) from None
        os.chmod(kept, 0o600)
        _fsync(kept)
    else:
        if not target.parent.is_dir():
            raise MaintenanceError(f"{target.parent}: no such folder")
    try:
        _copy_database(source, target, create=True)
    except sqlite3.Error as error:
        hint = f" The previous database is kept at {kept}." if kept else ""
        raise MaintenanceError(f"restore failed: {error}.{hint}") from None
    restored = inspect_sqlite(target)
    if not restored.ok:
        hint = f" The previous database is kept at {kept}." if kept else ""
        raise MaintenanceError(
            f"the restored database failed its integrity check: {restored.integrity[:5]}.{hint}"
        )
    return RestoreResult(restored=restored, kept=kept)
