"""Database engine, sessions and migrations.

SQLite is tuned for a kiosk that must not lose a tap: WAL so the dashboard
can read while the kiosk writes, ``synchronous=FULL`` so a commit survives a
power cut, foreign keys on, and a busy timeout so a writer waits rather than
fails. Any other SQLAlchemy URL (PostgreSQL) is used as it is.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
#: the newest migration in kiosk/migrations/versions. Checked against Alembic's
#: head by a test, and kept here so the kiosk starts without importing Alembic.
SCHEMA_REVISION = "0003c"
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


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; for SQLite, create the folder and set the pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_group_writable(Path(database).expanduser())
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine):
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision`` (Alembic, shipped in the package)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


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
    except Exception as error:  # noqa: BLE001 - any driver error means "cannot open"
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
