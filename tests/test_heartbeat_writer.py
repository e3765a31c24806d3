"""The heartbeat row has one writer at a time.

On a new database the reader thread (a reader state change, a tap) and the
main thread (start-up, the beat) both found no ``kiosk_status`` row and both
inserted one: ``UNIQUE constraint failed: kiosk_status.locker_id`` in the log.
Here several threads are released at the same instant on fresh databases,
which hit that every time before the fix.
"""

from __future__ import annotations

import logging
import threading

from gpiozero.pins.mock import MockFactory
from sqlalchemy import func, select

from kiosk.config import load_config
from kiosk.locker.clock import ClockGuard
from kiosk.locker.daemon import Kiosk, register_locker
from kiosk.store.db import Database
from kiosk.store.models import KioskStatus

from .conftest import write_config

ATTEMPTS = 15
WRITERS = 4


def test_first_heartbeat_on_a_new_database_is_written_once(tmp_path, caplog):
    for attempt in range(ATTEMPTS):
        folder = tmp_path / f"attempt-{attempt}"
        folder.mkdir()
        config = load_config(write_config(folder))
        db = Database(config.database.url)
        db.upgrade()
        factory = MockFactory()
        kiosk = Kiosk(config, db, pin_factory=factory, clock_guard=ClockGuard(check_sync=False))
        register_locker(db, config)
        together = threading.Barrier(WRITERS)

        def beat(kiosk=kiosk, together=together):
            together.wait()
            kiosk.heartbeat.write()

        threads = [threading.Thread(target=beat) for _ in range(WRITERS)]
        with caplog.at_level(logging.ERROR, logger="kiosk.locker.heartbeat"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
        with db.session() as session:
            rows = session.scalar(select(func.count()).select_from(KioskStatus))
        kiosk.hardware.close()
        factory.close()
        db.dispose()
        assert rows == 1
        assert not [r for r in caplog.records if "heartbeat" in r.getMessage()
                    or "UNIQUE" in r.getMessage()], f"attempt {attempt}: {caplog.text}"
        assert not kiosk.write_faults
