"""Clock safety: a Raspberry Pi has no real-time clock.

Until NTP has synchronised it, a Pi that booted without network may think it
is last week. The kiosk never refuses a tap because of that; it marks the
event ``clock_suspect`` so staff know the time on it may be wrong, and
``doctor`` and the dashboard show a warning.

Two signs make the clock suspect:

* the kernel says it is not synchronised (``adjtimex`` returns
  ``TIME_ERROR``; systemd-timesyncd, chrony and ntpd all clear that), and
* the wall clock is earlier than the newest recorded event, or has jumped
  backwards against the monotonic clock since the kiosk started.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

TIME_ERROR = 5  # adjtimex(2): clock not synchronised
#: wall-clock jitter tolerated before a backwards step counts
BACKWARDS_TOLERANCE = timedelta(seconds=2)


class _Timex(ctypes.Structure):
    # struct timex is 208 bytes on 64-bit Linux; only `modes` (first) matters
    # to us, and it must be 0 so adjtimex only reads.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]


def kernel_clock_synchronised() -> bool | None:
    """True/False from ``adjtimex(2)``; None where it cannot be asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        state = libc.adjtimex(ctypes.byref(_Timex()))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


class ClockGuard:
    """Decides whether a timestamp the kiosk is about to record can be trusted."""

    def __init__(
        self,
        *,
        check_sync: bool = True,
        newest_recorded: datetime | None = None,
        synchronised: Callable[[], bool | None] = kernel_clock_synchronised,
        sync_cache_seconds: float = 30.0,
    ) -> None:
        self.check_sync = check_sync
        self.newest_recorded = newest_recorded
        self._synchronised = synchronised
        self._sync_cache_seconds = sync_cache_seconds
        self._sync_checked_at = float("-inf")
        self._sync_state: bool | None = None
        self._offset = time.time() - time.monotonic()
        self.reason: str | None = None

    def synchronised(self) -> bool | None:
        now = time.monotonic()
        if now - self._sync_checked_at >= self._sync_cache_seconds:
            self._sync_state = self._synchronised()
            self._sync_checked_at = now
        return self._sync_state

    def suspect(self, now: datetime) -> bool:
        """True if ``now`` (aware) may be wrong; remembers why in :attr:`reason`."""
        reason = None
        offset = time.time() - time.monotonic()
        if offset < self._offset - BACKWARDS_TOLERANCE.total_seconds():
            reason = "the clock jumped backwards while the kiosk was running"
        elif self.newest_recorded is not None and now < self.newest_recorded - BACKWARDS_TOLERANCE:
            reason = f"the clock is behind the newest recorded event ({self.newest_recorded:%c})"
        elif self.check_sync and self.synchronised() is False:
            reason = "the clock is not synchronised (no NTP yet)"
        self._offset = max(self._offset, offset)
        if reason != self.reason:
            if reason:
                log.warning("clock suspect: %s", reason)
            else:
                log.info("clock trusted again")
        self.reason = reason
        if reason is None and (self.newest_recorded is None or now > self.newest_recorded):
            self.newest_recorded = now
        return reason is not None

    def ok(self) -> bool:
        return self.reason is None


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)
