"""Database engine, sessions and migrations.

SQLite is tuned for a kiosk that must not lose a tap: WAL so the dashboard
can read while the kiosk writes, ``synchronous=FULL`` so a commit survives a
power cut, foreign keys on, and a busy timeout so a writer waits rather than
fails. Any other SQLAlchemy URL (PostgreSQL) is used as it is.

Transactions on SQLite (checked with Python 3.11's sqlite3 and SQLAlchemy 2):
pysqlite's default ("legacy") transaction control sends a deferred ``BEGIN``
just before the first INSERT/UPDATE/DELETE, and runs the SELECTs before it
outside any transaction. So a transaction that starts by writing asks for
the write lock with no read snapshot open, and waits on ``busy_timeout``.
A transaction that *reads and then writes* inside one deferred BEGIN cannot
wait: if another connection committed after its first read, its snapshot is
stale and the write fails at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT; busy_timeout does not apply). A writer that must
read and write in one transaction (the import re-checking its diff) calls
:func:`begin_write` first: ``BEGIN IMMEDIATE`` takes the write lock up front,
waiting on busy_timeout like any other writer.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

#: How long any connection waits for another's write to finish. Every writer
#: keeps its transactions short (a 50,000-row import's write is a few seconds,
#: purge chunks and taps are milliseconds), so 15 s is a wide margin on a slow
#: SD card; it stays below the kiosk's reader-stall limit (20 s, kiosk/locker/daemon.py)
#: and systemd's WatchdogSec (30 s), so a tap that waits is never taken for a hang.
BUSY_TIMEOUT_MS = 15000
#: the newest migration in kiosk/store/migrations/versions. Checked against Alembic's
#: head by a test, and kept here so the kiosk starts without importing Alembic.
SCHEMA_REVISION = "0006s"
MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The database cannot be opened or is not at the current schema."""


def _create_group_writable(path: Path) -> None:
    """Create the database file 0660 so the web user (same group) can write too.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode; a
    file born under the kiosk's ``UMask=0077`` would lock the dashboard out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o660)
        os.close(descriptor)
        os.chmod(path, 0o660)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def sqlite_file(url: str) -> Path | None:
    """The file behind an SQLite URL; None for another database, ``:memory:`` or a ``file:`` URI.

    The one place that turns a ``[database] url`` into a path: the engine, backup
    and restore, ``doctor``'s disk check, the kiosk's status file and the
    installer ask here. A malformed URL raises SQLAlchemy's ArgumentError.
    """
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; for SQLite, create the folder and set the pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = sqlite_file(url)
        if database is not None:
            _create_group_writable(database)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def begin_write(session: Session) -> None:
    """Start ``session``'s transaction with the write lock held (SQLite ``BEGIN IMMEDIATE``).

    For a writer that reads, then writes what it read, in one transaction: it
    waits (busy_timeout) for the lock instead of failing on a stale snapshot
    later (see the module docstring). Call it before the transaction's first
    statement; if the driver is already in a transaction this does nothing.
    Other databases need nothing: their transactions already wait on row locks.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi = connection.connection.dbapi_connection
    if not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def fingerprint(session: Session, queries: tuple[str, ...]) -> tuple:
    """The raw rows of ``queries``, to tell whether data changed between two moments.

    A bulk writer reads and prepares outside the write transaction, takes the
    fingerprint *before* that read, and again after :func:`begin_write`: equal
    means what it read is still what is there. Plain SQL on the DBAPI cursor,
    because it runs while the lock is held (about 0.1 s for 50,000 rows).
    """
    connection = session.connection()
    return tuple(connection.exec_driver_sql(sql).fetchall() for sql in queries)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine):
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision`` (Alembic, shipped in the package),
    then refresh the planner's statistics (:func:`analyze`)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)
    analyze(engine)


def analyze(engine: Engine) -> None:
    """Refresh the query planner's statistics (``ANALYZE``; SQLite then ``PRAGMA optimize``).

    Without them SQLite guesses: it read the day's events through
    ``ix_events_kind`` (every deposit of the year) instead of ``ix_events_at``.
    Run after migrations and by the nightly ``phonelocker maintenance``; on a
    year of a big school it takes about a second and is a write like any other
    (the kiosk waits on busy_timeout, never fails).
    """
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA optimize")


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in ``alembic_version`` (None for a new database)."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def head_revision() -> str:
    """The newest migration shipped, as Alembic sees it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def check_schema(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the schema is at the shipped head."""
    try:
        current = current_revision(engine)
    except Exception as error:
        raise DatabaseError(f"cannot open the database: {error}") from error
    if current is None:
        if inspect(engine).get_table_names():
            raise DatabaseError("the database has tables but no migration record")
        raise DatabaseError("the database is empty: run 'phonelocker db upgrade'")
    head = SCHEMA_REVISION
    if current != head:
        raise DatabaseError(
            f"the database is at revision {current}, the code needs {head}: "
            "run 'phonelocker db upgrade'"
        )


class Database:
    """An engine and its session factory, opened from a URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)

    def session(self) -> Session:
        return self.sessions()

    def upgrade(self) -> None:
        upgrade(self.engine)

    def check(self) -> None:
        check_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
