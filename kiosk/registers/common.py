"""Checks shared by both registers: who agreed, free text, the dates an entry covers."""

from __future__ import annotations

from datetime import date, datetime

from kiosk.errors import ActionError
from kiosk.inputs import InputError, check_text
from kiosk.timeutil import naive_utc

#: longest name (who agreed, a staff member) and longest free text the registers keep
MAX_NAME = 200
MAX_TEXT = 2000


def required_text(value: str | None, what: str, *, max_length: int) -> str:
    """``value`` stripped; ActionError if empty, too long or holding control characters."""
    value = (value or "").strip()
    if not value:
        raise ActionError(f"{what} is needed")
    if len(value) > max_length:
        raise ActionError(f"{what} is too long (at most {max_length} characters)")
    try:
        return check_text(value, what)
    except InputError as error:
        raise ActionError(str(error)) from None


def check_dates(starts_on: date, until: date | None, today: date) -> None:
    """An entry's dates make sense: it does not end before it starts, nor in the past."""
    if until is not None and until < starts_on:
        raise ActionError(f"the end date {until} is before the start date {starts_on}")
    if until is not None and until < today:
        raise ActionError(f"the end date {until} is in the past")


def local_date(moment: datetime, zone) -> date:
    """An aware moment's day in the school's zone."""
    return moment.astimezone(zone).date()


def mark_ended(row, *, what: str, by: str, reason: str, now: datetime) -> None:
    """Fill in an entry's early end (``ended_at``/``ended_by``/``end_reason``) after the
    checks both registers make; ``what`` names it in the error ("exception 7")."""
    by = required_text(by, "who ended it (--by)", max_length=MAX_NAME)
    reason = required_text(reason, "a reason", max_length=MAX_TEXT)
    if row.ended_at is not None:
        raise ActionError(f"{what} was already ended")
    row.ended_at = naive_utc(now)
    row.ended_by = by
    row.end_reason = reason
