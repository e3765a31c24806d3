"""The NFC card reader on nfcpy, with fault recovery.

The device path picks the driver exactly as nfcpy does (``usb``,
``usb:072f:2200``, ``tty:S0:pn532``, ``udp:127.0.0.1:54321``), so the
emulated reader runs the same code as a real one.

One tap is one read: the ``on-connect`` callback returns True, which makes
nfcpy wait until the card leaves the field before sensing again.

A fault (unplugged reader, ``IOError``, a USB timeout, ``No such device``)
never escapes :meth:`CardReader.run`: the reader is closed, the fault is
reported through ``on_state``, and it is reopened after a back-off that
doubles up to ``backoff_max`` (2 s): a replugged reader reads the next tap
within about 5 s whatever the outage lasted. The back-off is capped, not the
log: the fault is logged once, then one summary line a minute while it lasts,
and "reader back" once when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import nfc
import nfc.clf

log = logging.getLogger(__name__)

#: Type A at 106 kbit/s covers MIFARE Classic/Ultralight/DESFire and NTAG cards
#: (4, 7 and 10 byte UIDs); sensing other types only slows the poll loop.
TARGETS = ["106A"]

#: the longest wait between two attempts to reopen a faulty reader; with the
#: time an open and a first sense take, recovery stays within 5 s
BACKOFF_MAX_SECONDS = 2.0
#: while a fault lasts, one summary log line this often (not one per attempt)
FAULT_LOG_SECONDS = 60.0


class ReaderFault(Exception):
    """The reader stopped working (raised inside the loop, never out of it)."""


class CardReader:
    """Reads card UIDs from an nfcpy device and calls ``on_tap(uid)`` once per tap.

    ``on_tap`` runs in the reader's thread and should return quickly; any
    exception it raises is logged and the reader carries on.
    ``on_state(ok, error)`` is called when the reader comes up or fails.
    """

    def __init__(
        self,
        path: str,
        on_tap: Callable[[str], Any],
        *,
        on_state: Callable[[bool, str | None], Any] | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        frontend: Callable[[str], Any] = nfc.ContactlessFrontend,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        """``clock`` (monotonic seconds) and ``wait(seconds) -> stop requested`` are
        injectable so that tests can play a long outage without waiting it out."""
        self.path = path
        self.on_tap = on_tap
        self.on_state = on_state
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._frontend = frontend
        self._clock = clock
        self._wait = wait
        self._stop = threading.Event()
        self.ok = False
        self.last_error: str | None = None
        #: monotonic time the loop last proved it was alive (for the watchdog)
        self.last_alive = time.monotonic()
        self.taps = 0
        #: clock time the current fault began, attempts since, last summary logged
        self._fault_since: float | None = None
        self._fault_attempts = 0
        self._fault_logged_at = 0.0
        #: sense rounds since the reader was opened, until it has proved itself
        self._rounds: int | None = None
        self._backoff = backoff_initial

    def _set_state(self, ok: bool, error: str | None = None) -> None:
        changed = ok != self.ok or error != self.last_error
        self.ok, self.last_error = ok, error
        if changed and self.on_state is not None:
            try:
                self.on_state(ok, error)
            except Exception:
                log.exception("reader state callback failed")

    def _fault(self, message: str) -> None:
        """Log a fault once, then a summary a minute while it lasts."""
        now = self._clock()
        self._fault_attempts += 1
        if self._fault_since is None:
            self._fault_since = self._fault_logged_at = now
            log.warning(
                "reader %s fault: %s (retrying every %.1f s at most)",
                self.path, message, self.backoff_max,
            )
        elif now - self._fault_logged_at >= FAULT_LOG_SECONDS:
            self._fault_logged_at = now
            log.warning(
                "reader %s still faulty after %.0f s (%d attempts): %s",
                self.path, now - self._fault_since, self._fault_attempts, message,
            )
        else:
            log.debug("reader %s fault: %s", self.path, message)
        self._set_state(False, message)

    def _recovered(self) -> None:
        self._rounds = None
        self._backoff = self.backoff_initial
        if self._fault_since is not None:
            log.warning(
                "reader %s back after %.1f s (%d failed attempts)",
                self.path, self._clock() - self._fault_since, self._fault_attempts,
            )
            self._fault_since = None
            self._fault_attempts = 0
        self._set_state(True)

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; True when a stop was requested meanwhile."""
        if self._wait is not None:
            return self._wait(seconds) or self._stop.is_set()
        return self._stop.wait(seconds)

    def _terminate(self) -> bool:
        self.last_alive = time.monotonic()
        # nfcpy asks before every sense round: the second ask means one round
        # went through without an IOError, so the reader really works (a reader
        # that opens and then fails at once must not flap between ok and fault).
        if self._rounds is not None:
            self._rounds += 1
            if self._rounds > 1:
                self._recovered()
        return self._stop.is_set()

    def _on_connect(self, tag) -> bool:
        self.last_alive = time.monotonic()
        if self._rounds is not None:
            self._recovered()
        uid = bytes(tag.identifier).hex().upper()
        self.taps += 1
        log.info("card %s", uid)
        try:
            self.on_tap(uid)
        except Exception:
            log.exception("handling card %s failed", uid)
        return True  # hold until the card leaves: one tap, one read

    def stop(self) -> None:
        self._stop.set()

    def run(self, stop: threading.Event | None = None) -> None:
        """Read cards until :meth:`stop` is called (or ``stop`` is set)."""
        if stop is not None:
            self._stop = stop
        self._backoff = self.backoff_initial
        while not self._stop.is_set():
            clf = None
            try:
                clf = self._open()
                self._rounds = 0
                self._read_until_fault(clf)
            except Exception as error:
                message = f"{type(error).__name__}: {error}"
                if self._stop.is_set():
                    break
                self._fault(message)
            finally:
                if clf is not None:
                    try:
                        clf.close()
                    except Exception:
                        log.debug("error closing reader", exc_info=True)
            if self._sleep(self._backoff):
                break
            self.last_alive = time.monotonic()
            self._backoff = min(self._backoff * 2, self.backoff_max)
        self._set_state(False, "stopped")

    def _open(self):
        clf = self._frontend(self.path)
        if getattr(clf, "device", True) is None:
            raise ReaderFault(f"no reader found at {self.path}")
        # while a fault lasts, a reopen that then fails again is not news
        log.log(logging.DEBUG if self._fault_since else logging.INFO, "reader open: %s", clf)
        return clf

    def _read_until_fault(self, clf) -> None:
        # connect() checks `terminate` only between sense rounds, so keep a round
        # short: two polls 0.2 s apart on a real reader (5 polls a second);
        # one on the udp driver, whose sense already waits a second for an answer.
        options = {
            "targets": TARGETS,
            "on-connect": self._on_connect,
            "beep-on-connect": False,
            "iterations": 1 if self.path.startswith("udp") else 2,
            "interval": 0.2,
        }
        while not self._stop.is_set():
            result = clf.connect(rdwr=options, terminate=self._terminate)
            # nfcpy's connect() swallows IOError and returns False: that is a fault.
            if result is False and not self._stop.is_set():
                raise ReaderFault("the reader stopped responding")
