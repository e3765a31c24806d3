"""The kiosk while database writes fail (disk full, read-only, I/O error).

:class:`WriteFaults` is owned by :class:`kiosk.locker.daemon.Kiosk`: every write
path reports to it whether its write failed or worked. While any kind fails it
keeps the red LED flashing fast (taps are refused, so nothing opens unrecorded),
logs one line a minute and keeps :mod:`kiosk.store.runtime_status`'s file fresh
so the dashboard shows the true state; it all clears once every kind works.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from hardware.locker import LockerHardware
from hardware.reader import CardReader
from kiosk.config import Config
from kiosk.store.runtime_status import free_bytes, status_path, write_problem, write_status

# The daemon's logger, as before this class left it: the log lines (which name their
# logger) read the same.
log = logging.getLogger("kiosk.locker.daemon")

#: while database writes fail, one log line this often (not one per beat)
FAULT_LOG_SECONDS = 60.0


class WriteFaults:
    """Which database writes fail now, and what the kiosk shows and logs about it.

    Safe from any thread (the reader thread reports taps, the main thread the
    rest).
    """

    def __init__(
        self,
        config: Config,
        hardware: LockerHardware,
        reader: CardReader,
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.hardware = hardware
        self.reader = reader
        self.clock = clock
        self.status_file = status_path(config)
        #: failing database writes by kind ("events", "heartbeat", "commands") -> problem
        self.faults: dict[str, str] = {}
        self._detail = ""
        self._since: datetime | None = None
        self._logged_at = 0.0
        self._lock = threading.RLock()
        self._status_file_warned = False

    def failed(self, kind: str, error: BaseException) -> bool:
        """Note a failed ``kind`` write; False if ``error`` is not a write fault."""
        problem = write_problem(error, free_bytes(self.config))
        if problem is None:
            return False
        with self._lock:
            first = not self.faults
            self.faults[kind] = problem
            self._detail = f"{type(error).__name__}: {getattr(error, 'orig', None) or error}"
            if first:
                self._since = self.clock()
                self._logged_at = time.monotonic()
                log.error(
                    "%s (%s): every tap is refused and the locks stay shut until the "
                    "database can be written again", problem, self._detail,
                )
                self.hardware.set_cannot_record(True)
            self._write_status_file()
        return True

    def worked(self, kind: str) -> None:
        """A ``kind`` write worked: when it was the last failing kind, the fault is over."""
        with self._lock:
            if self.faults.pop(kind, None) is None or self.faults:
                return
            lasted = (self.clock() - self._since).total_seconds()
            log.warning("database writes work again after %.0f s: taps are recorded", lasted)
            self._since = None
            self.hardware.set_cannot_record(False)
            self._write_status_file()

    def report(self) -> None:
        """On the beat: keep the status file fresh, and log a line a minute, while writes fail."""
        with self._lock:
            if not self.faults:
                return
            self._write_status_file()
            if time.monotonic() - self._logged_at >= FAULT_LOG_SECONDS:
                self._logged_at = time.monotonic()
                lasted = (self.clock() - self._since).total_seconds()
                log.error(
                    "still %s after %.0f s (%s); taps are refused",
                    "; ".join(sorted(set(self.faults.values()))), lasted, self._detail,
                )

    def _write_status_file(self) -> None:
        """The true state, in the runtime directory, for when the heartbeat cannot be written."""
        problems = sorted(set(self.faults.values()))
        snapshot = self.hardware.snapshot()
        document = {
            "locker_id": self.config.locker.id,
            "written_at": self.clock().isoformat(timespec="seconds"),
            "ok": not problems,
            "problem": "; ".join(problems) or None,
            "detail": self._detail if problems else None,
            "since": self._since.isoformat(timespec="seconds") if problems else None,
            "reader_ok": self.reader.ok,
            "bays": snapshot["bays"],
            "leds": snapshot["leds"],
        }
        try:
            write_status(self.status_file, document)
        except OSError as error:
            if not self._status_file_warned:  # once: this runs on every beat of a fault
                self._status_file_warned = True
                log.warning("cannot write the status file %s: %s", self.status_file, error)
