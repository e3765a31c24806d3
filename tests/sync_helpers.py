"""A school of several lockers on one machine: a central database, kiosks with their own
SQLite, each kiosk's service on its own gpiozero MockFactory, and its sync worker driven
one cycle at a time (deterministic; the threaded worker is tested through real kiosks)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from kiosk.config import Config, load_config
from kiosk.locker.daemon import build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.store.db import Database
from kiosk.sync.worker import SyncWorker
from tests.conftest import write_config

LOCK, DOOR = 17, 27


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Kiosk:
    config: Config
    db: Database
    service: KioskService
    worker: SyncWorker
    factory: MockFactory
    config_file: Path

    def tap(self, uid: str):
        return self.service.tap(uid)

    def sync(self) -> None:
        self.worker.cycle()

    def try_sync(self) -> Exception | None:
        """One turn of the worker's loop (:meth:`SyncWorker.run`) without its wait: a
        failed cycle is reported and drops the connection. Returns the failure."""
        try:
            self.worker.cycle()
        except Exception as error:  # what run() catches
            self.worker._failed(error)
            return error
        return None


@dataclass
class School:
    """``central`` (a Database) and kiosks made by :meth:`kiosk`."""

    root: Path
    central_url: str
    central: Database
    clock: Clock
    kiosks: list[Kiosk] = field(default_factory=list)

    def kiosk(self, locker_id: str, name: str, *, central_url: str | None = None,
              extra: str = "") -> Kiosk:
        directory = self.root / locker_id
        directory.mkdir()
        url = central_url or self.central_url
        path = write_config(
            directory,
            f'[locker]\nid = "{locker_id}"\nname = "{name}"\nunlock_seconds = 0.2\n'
            f"[[locker.bays]]\nnumber = 1\nlock_pin = {LOCK}\ndoor_pin = {DOOR}\n"
            f'[policy]\ncollect_from = "15:15"\n[central]\nurl = "{url}"\n' + extra,
        )
        config = load_config(path)
        db = Database(config.database.url)
        db.upgrade()
        register_locker(db, config)
        factory = MockFactory()
        hardware = build_hardware(config, factory)
        service = KioskService(config, db, hardware, clock=self.clock)
        worker = SyncWorker(config, db, clock=self.clock)
        worker.other_holdings_seconds = 0  # cycles are driven by hand
        kiosk = Kiosk(config, db, service, worker, factory, path)
        self.kiosks.append(kiosk)
        return kiosk

    def close(self) -> None:
        for kiosk in self.kiosks:
            kiosk.worker.stop()
            kiosk.service.hardware.close()
            kiosk.factory.close()
            kiosk.db.dispose()
        self.central.dispose()


def morning() -> datetime:
    """08:40 London on a Monday in term (a fixed instant, whatever the real clock)."""
    return datetime(2026, 11, 30, 8, 40, tzinfo=UTC)


# --- the school on PostgreSQL (tests/test_sync_postgres.py) ---------------------------


@dataclass
class PgCentral:
    """A private central database on the test's PostgreSQL and a kiosk role for it.

    ``admin_url`` is the schema owner's (the office, the test's checks);
    kiosks connect as ``role`` with its password over TCP (:meth:`kiosk_url`),
    with exactly the grants of :mod:`kiosk.sync.grants`.
    """

    admin_url: str
    database: str
    role: str
    password: str

    def kiosk_url(self, port: int = 5432) -> str:
        return (f"postgresql+psycopg://{self.role}:{self.password}@127.0.0.1:{port}/"
                f"{self.database}")


@contextmanager
def pg_central(server_url: str) -> Iterator[PgCentral]:
    """Create a database (upgraded) and a password role with the kiosk grants; drop both after.

    ``server_url`` is a role allowed to create databases and roles
    (``PHONELOCKER_TEST_POSTGRES_URL``). The role exists only for this database.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from kiosk.sync.grants import grant_statements

    tag = uuid.uuid4().hex[:12]
    database, role, password = f"pl_sync_{tag}", f"pl_kiosk_{tag}", secrets.token_hex(16)
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
        connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
    admin_url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    try:
        Database(admin_url).upgrade()
        owner = create_engine(admin_url)
        with owner.begin() as connection:
            for statement in grant_statements(role):
                connection.execute(text(statement))
        owner.dispose()
        yield PgCentral(admin_url, database, role, password)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        server.dispose()


def sync_forever(config_file: str) -> None:
    """A kiosk's sync worker running its loop in this process (until it is killed).

    The target of the child processes tests/test_sync_postgres.py SIGKILLs: the
    real :meth:`SyncWorker.run`, on the kiosk's own config and database.
    """
    config = load_config(Path(config_file))
    worker = SyncWorker(config, Database(config.database.url))
    worker.run()
