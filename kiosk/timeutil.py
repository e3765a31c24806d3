"""Time helpers shared by every layer: one place for "now" and for UTC conversions.

Timestamps are stored as naive UTC (portable between SQLite and PostgreSQL);
the code passes aware datetimes around and converts at the database edge.
Domain code does not call these to find out what time it is: it takes ``now``
from its caller's clock. Only the edges (a CLI command, the kiosk's injected
clock, the dashboard's clock) read the wall clock, through :func:`aware_utc_now`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def aware_utc_now() -> datetime:
    """The wall clock, timezone-aware UTC: the default clock of the kiosk and the dashboard."""
    return datetime.now(UTC)


def utcnow() -> datetime:
    """The wall clock as naive UTC, the form every timestamp is stored in."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime | None) -> datetime:
    """Any datetime (aware, or already naive UTC) as stored: naive UTC. None is now."""
    if moment is None:
        return utcnow()
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def as_aware(moment: datetime | None) -> datetime | None:
    """A stored naive UTC time as aware UTC (None stays None)."""
    return None if moment is None else moment.replace(tzinfo=UTC)
