"""When is a kiosk online? One rule, as SQL and as Python.

A kiosk is online while its heartbeat (``kiosk_status.updated_at``) is at most
``max_age`` seconds old and it has not recorded a clean stop. The dashboard,
``phonelocker lockers``, the office's commands, the locker screen, the
notifications and the refusal to restore under a running kiosk all ask here,
so they cannot disagree about whether a kiosk is there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_

from kiosk.store.models import KioskStatus


def fresh_heartbeat(now_utc: datetime, max_age: float) -> ColumnElement[bool]:
    """The rule as a WHERE clause over ``kiosk_status`` (``now_utc`` naive UTC)."""
    return and_(
        KioskStatus.updated_at >= now_utc - timedelta(seconds=max_age),
        KioskStatus.stopped_at.is_(None),
    )


def heartbeat_fresh(status: KioskStatus | None, now_utc: datetime, max_age: float) -> bool:
    """The rule for a row already read (``now_utc`` naive UTC); no row is offline."""
    return (
        status is not None
        and status.stopped_at is None
        and status.updated_at >= now_utc - timedelta(seconds=max_age)
    )
