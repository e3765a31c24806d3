"""Staff special arrangements: what the headteacher agreed for one staff member.

E.g. "MFA codes", "emergency contact from own child's school", "acutely ill
dependant". ``staff_name`` is free text (not every member of staff has a
dashboard account). Each function records an event; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from kiosk.errors import ActionError
from kiosk.registers.common import (
    MAX_NAME,
    MAX_TEXT,
    check_dates,
    local_date,
    mark_ended,
    required_text,
)
from kiosk.store.events import Kind, record_event
from kiosk.store.models import StaffArrangement
from kiosk.timeutil import naive_utc


def get_arrangement(session: Session, arrangement_id: int) -> StaffArrangement:
    row = session.get(StaffArrangement, arrangement_id)
    if row is None:
        raise ActionError(f"no arrangement with id {arrangement_id}")
    return row


def add_arrangement(
    session: Session,
    *,
    staff_name: str,
    arrangement: str,
    agreed_by: str,
    now: datetime,
    zone,
    starts_on: date | None = None,
    until: date | None = None,
    actor: str | None = None,
) -> StaffArrangement:
    """Record an arrangement from ``starts_on`` (default today) to ``until`` (inclusive)."""
    staff_name = required_text(staff_name, "the staff member (--staff)", max_length=MAX_NAME)
    arrangement = required_text(arrangement, "what is agreed (--what)", max_length=MAX_TEXT)
    agreed_by = required_text(agreed_by, "who agreed it (--by)", max_length=MAX_NAME)
    today = local_date(now, zone)
    starts_on = starts_on or today
    check_dates(starts_on, until, today)
    row = StaffArrangement(
        staff_name=staff_name, arrangement=arrangement, agreed_by=agreed_by,
        starts_on=starts_on, until=until, created_at=naive_utc(now),
    )
    session.add(row)
    session.flush()
    record_event(
        session, Kind.ARRANGEMENT_ADDED, at=naive_utc(now), actor=actor or agreed_by,
        reason=(f"arrangement {row.id} for {staff_name}: {arrangement}; agreed by {agreed_by},"
                f" from {starts_on}" + (f" until {until}" if until else "")),
    )
    return row


def end_arrangement(
    session: Session, row: StaffArrangement, *, by: str, reason: str, now: datetime
) -> StaffArrangement:
    """End an arrangement now."""
    mark_ended(row, what=f"arrangement {row.id}", by=by, reason=reason, now=now)
    record_event(
        session, Kind.ARRANGEMENT_ENDED, at=row.ended_at, actor=row.ended_by,
        reason=f"arrangement {row.id} for {row.staff_name} ended: {row.end_reason}",
    )
    session.flush()
    return row
