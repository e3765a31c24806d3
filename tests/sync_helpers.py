"""A school of several lockers on one machine: a central database, kiosks with their own
SQLite, each kiosk's service on its own gpiozero MockFactory, and its sync worker driven
one cycle at a time (deterministic; the threaded worker is tested through real kiosks)."""

from __future__ import annotations

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
