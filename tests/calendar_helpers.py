"""Helpers for the calendar's tests that run real ``phonelocker`` processes.

Subprocesses keep the real clock (PHONELOCKER_TEST_NOW moves only this
process's), so the school's zone is chosen for the real time now: one where
it is about midday, far from both midnight and a 23:59 collection time.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def real_utc_now() -> datetime:
    """The machine's real time, read by another process (immune to time-machine)."""
    seconds = int(subprocess.run(["date", "+%s"], capture_output=True, text=True,
                                 check=True).stdout)
    return datetime.fromtimestamp(seconds, UTC)


def midday_zone() -> str:
    """An ``Etc/GMT…`` zone where the real local time is now 12:xx (offsets -11..+12)."""
    offset = 12 - real_utc_now().hour
    return f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-5 is UTC+5


def local_now(zone: str) -> datetime:
    return real_utc_now().astimezone(ZoneInfo(zone))
