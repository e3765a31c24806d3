"""The kiosk's heartbeat: its row in ``kiosk_status``, the dashboard's view of it.

One writer at a time (:attr:`Heartbeat._lock`): the reader thread writes the
row straight after a tap or a reader state change, the main thread on its
beat, and on a new database both used to insert the row. A failed write is
handed to the daemon's write-fault handling, never raised.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hardware.locker import LockerHardware
from hardware.reader import CardReader
from kiosk.config import Config
from kiosk.locker.clock import ClockGuard
from kiosk.locker.tap import KioskService
from kiosk.store.db import Database
from kiosk.store.models import KioskStatus
from kiosk.timeutil import naive_utc

if TYPE_CHECKING:
    from kiosk.sync.worker import SyncReport

log = logging.getLogger(__name__)


class Heartbeat:
    """Writes one kiosk's ``kiosk_status`` row."""

    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        hardware: LockerHardware,
        reader: CardReader,
        service: KioskService,
        clock_guard: ClockGuard,
        clock: Callable[[], datetime],
        started_at: datetime,
        failed: Callable[[BaseException], bool],
        worked: Callable[[], None],
        sync: Callable[[], SyncReport] | None = None,
    ) -> None:
        """``failed(error)`` is told of a failed write and returns False when the
        error is not a write fault (then it is logged here); ``worked()`` of one
        that succeeded."""
        self.config = config
        self.db = db
        self.hardware = hardware
        self.reader = reader
        self.service = service
        self.clock_guard = clock_guard
        self.clock = clock
        self.started_at = started_at
        self._failed = failed
        self._worked = worked
        #: the sync worker's report, with a central database (kiosk/sync)
        self.sync = sync
        self._lock = threading.Lock()

    def write(self) -> None:
        """Write this kiosk's status row now (from either thread: one writer at a time)."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        now = naive_utc(self.clock())
        try:
            with self.db.session() as session:
                status = session.get(KioskStatus, self.config.locker.id)
                if status is None:
                    status = KioskStatus(locker_id=self.config.locker.id, updated_at=now)
                    session.add(status)
                status.updated_at = now
                status.stopped_at = None
                status.started_at = naive_utc(self.started_at)
                status.reader_ok = self.reader.ok
                status.reader_device = self.config.reader.device
                status.emulated = self.config.emulated
                status.hardware_json = json.dumps(self.hardware.snapshot())
                status.clock_ok = not self.clock_guard.suspect(self.clock())
                if self.sync is not None:
                    report = self.sync()
                    status.last_sync_at = naive_utc(report.last_sync) if report.last_sync else None
                    status.pending_events = report.pending_events
                    status.offline_since = (
                        naive_utc(report.offline_since) if report.offline_since else None
                    )
                    status.sync_error = report.last_error
                if self.service.last_tap is not None:
                    at, uid, result = self.service.last_tap
                    status.last_tap_at = naive_utc(at)
                    status.last_tap_uid = uid
                    status.last_tap_result = result
                session.commit()
        except Exception as error:
            if not self._failed(error):
                log.exception("could not write heartbeat")
        else:
            self._worked()

    def mark_stopped(self, session: Session, now: datetime) -> None:
        """Mark the kiosk offline in ``session`` (the caller commits)."""
        status = session.get(KioskStatus, self.config.locker.id)
        if status is not None:
            status.stopped_at = naive_utc(now)
            status.reader_ok = False
