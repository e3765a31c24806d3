"""The office's way past the rules: an emergency unlock, and a door forced open.

Both are recorded before (or instead of) anything moves: an override's event
commits before a lock is energised. :class:`kiosk.locker.tap.KioskService`
calls :meth:`Office.override` under the mutex it shares with taps; a forced
door is only recorded, from a gpiozero thread, and takes no mutex.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from hardware.locker import LockerHardware
from kiosk.config import Config
from kiosk.errors import ActionError
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.timeutil import naive_utc

log = logging.getLogger(__name__)


class Office:
    """Overrides and forced doors for one locker."""

    def __init__(
        self,
        config: Config,
        db: Database,
        hardware: LockerHardware,
        *,
        clock: Callable[[], datetime],
        clock_suspect: Callable[[datetime], bool],
    ) -> None:
        self.config = config
        self.db = db
        self.hardware = hardware
        self.clock = clock
        self.clock_suspect = clock_suspect
        self.locker_id = config.locker.id

    def override(
        self, *, actor: str, reason: str, bay: int | None, seconds: float, now: datetime
    ) -> str:
        """Emergency unlock of one bay (or all with ``bay=None``), recorded first.
        Returns the command's result line."""
        if bay is not None and bay not in self.hardware.bays:
            raise ActionError(f"locker {self.locker_id} has no bay {bay}")
        with self.db.session() as session:
            record_event(
                session, Kind.OVERRIDE, at=naive_utc(now), locker_id=self.locker_id,
                bay=bay, actor=actor, reason=reason, clock_suspect=self.clock_suspect(now),
            )
            session.commit()
        if bay is None:
            self.hardware.unlock_all(seconds)
            which = "all bays"
        else:
            self.hardware.unlock(bay, seconds)
            which = f"bay {bay}"
        log.warning("override by %s: %s unlocked for %g s", actor, which, seconds)
        return f"{self.config.locker.name}: {which} unlocked for {seconds:g} s"

    def forced_door(self, bay: int) -> None:
        """A door opened while its lock was locked: record it (never raises)."""
        now = self.clock()
        try:
            with self.db.session() as session:
                record_event(
                    session, Kind.FORCED_DOOR, at=naive_utc(now), locker_id=self.locker_id,
                    bay=bay, reason="door opened while locked",
                    clock_suspect=self.clock_suspect(now),
                )
                session.commit()
        except Exception:
            log.exception("could not record forced door on bay %d", bay)
