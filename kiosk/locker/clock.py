"""Clock safety: a Raspberry Pi has no real-time clock.

Until NTP has synchronised it, a Pi that booted without network may think it
is last week. The kiosk never refuses a tap because of that; it marks the
event ``clock_suspect`` so staff know the time on it may be wrong, and
``doctor`` and the dashboard show a warning.

Two signs make the clock suspect:

* the kernel says it is not synchronised (``adjtimex`` returns
  ``TIME_ERROR``; systemd-timesyncd, chrony and ntpd all clear that), and
* the wall clock is earlier than the newest recorded event, or has just
  jumped backwards against the monotonic clock while the kiosk was running.

A backwards step is forgiven once the clock has been steady for a minute;
times recorded before it are moved by it (:meth:`ClockGuard.rebase`) so a
grace period measured from them still works.
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
#: how long after a backwards step the clock stays suspect (NTP may step again)
STEP_SETTLE_SECONDS = 60.0


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
    """Decides whether a timestamp the kiosk is about to record can be trusted.

    ``wall`` and ``monotonic`` are the clocks it compares (``time.time`` and
    ``time.monotonic``; tests inject their own). A backwards step of the wall
    clock (an NTP correction after a boot with a clock that was ahead) makes
    the clock suspect for ``settle_seconds``; after that the usual two signs
    decide again, so events stop being suspect once the clock is sane. The
    step is remembered, so :meth:`rebase` can put a time recorded before it
    back on the current clock's timeline.
    """

    def __init__(
        self,
        *,
        check_sync: bool = True,
        newest_recorded: datetime | None = None,
        synchronised: Callable[[], bool | None] = kernel_clock_synchronised,
        sync_cache_seconds: float = 30.0,
        settle_seconds: float = STEP_SETTLE_SECONDS,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check_sync = check_sync
        self.newest_recorded = newest_recorded
        self._synchronised = synchronised
        self._sync_cache_seconds = sync_cache_seconds
        self._sync_checked_at = float("-inf")
        self._sync_state: bool | None = None
        self._settle_seconds = settle_seconds
        self._wall = wall
        self._monotonic = monotonic
        self._offset = wall() - monotonic()
        #: how far the wall clock has stepped backwards in all since the guard started
        self.stepped_back = timedelta(0)
        self._stepped_at = float("-inf")  # monotonic time of the last backwards step
        #: on the current wall clock's timeline, everything recorded on an earlier
        #: one happened before this moment: the guard's start or the last step
        self._boundary = datetime.fromtimestamp(wall(), UTC)
        self.reason: str | None = None

    def synchronised(self) -> bool | None:
        now = self._monotonic()
        if now - self._sync_checked_at >= self._sync_cache_seconds:
            self._sync_state = self._synchronised()
            self._sync_checked_at = now
        return self._sync_state

    def _observe(self) -> None:
        """Notice a backwards step of the wall clock against the monotonic clock."""
        mono = self._monotonic()
        wall = self._wall()
        offset = wall - mono
        step = self._offset - offset
        if step > BACKWARDS_TOLERANCE.total_seconds():
            moved = timedelta(seconds=step)
            self.stepped_back += moved
            self._stepped_at = mono
            self._boundary = datetime.fromtimestamp(wall, UTC)
            # The newest recorded time was stamped on the old timeline (mostly by
            # this guard itself): move it by the step, or every event would stay
            # "behind the newest recorded event" until the clock caught up with
            # the wrong one.
            if self.newest_recorded is not None:
                self.newest_recorded -= moved
            log.warning("the wall clock stepped back %.0f s", step)
            self._offset = offset
        else:
            self._offset = max(self._offset, offset)

    def suspect(self, now: datetime) -> bool:
        """True if ``now`` (aware) may be wrong; remembers why in :attr:`reason`."""
        self._observe()
        reason = None
        if self._monotonic() - self._stepped_at < self._settle_seconds:
            reason = "the clock jumped backwards while the kiosk was running"
        elif self.newest_recorded is not None and now < self.newest_recorded - BACKWARDS_TOLERANCE:
            reason = f"the clock is behind the newest recorded event ({self.newest_recorded:%c})"
        elif self.check_sync and self.synchronised() is False:
            reason = "the clock is not synchronised (no NTP yet)"
        if reason != self.reason:
            if reason:
                log.warning("clock suspect: %s", reason)
            else:
                log.info("clock trusted again")
        self.reason = reason
        if reason is None and (self.newest_recorded is None or now > self.newest_recorded):
            self.newest_recorded = now
        return reason is not None

    def rebase(self, recorded: datetime, now: datetime) -> datetime:
        """``recorded`` (aware) placed on the timeline of ``now``; see :func:`rebase`."""
        self._observe()
        return rebase(recorded, now, stepped_back=self.stepped_back, boundary=self._boundary)

    def ok(self) -> bool:
        return self.reason is None


def rebase(
    recorded: datetime,
    now: datetime,
    *,
    boundary: datetime,
    stepped_back: timedelta = timedelta(0),
) -> datetime:
    """Where a recorded time lies on the timeline of ``now`` (both aware).

    A time later than ``now`` was stamped before the wall clock stepped back.
    Moved back by the steps seen (``stepped_back``) it is where it really
    was; a step nobody saw (the kiosk restarted after it) is bounded by
    ``boundary``: whatever was recorded on the earlier timeline happened
    before the kiosk started (or before the last step). So the time since it
    is never negative, and never more than it really was: a grace period
    measured from it still works after the step, and ends.
    """
    if recorded <= now:
        return recorded
    return min(recorded - stepped_back, boundary, now)


