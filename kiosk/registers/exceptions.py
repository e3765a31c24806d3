"""Pupils' agreed exceptions: the pupil keeps their phone while one is in force.

The guidance (and the Equality Act's duty of reasonable adjustments) expects
them: a glucose monitor that runs on the phone, assistive technology, a young
carer. Each function changes the register and records an event in the
caller's session; the caller commits. ``now`` is the caller's clock (aware).
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
from kiosk.store.models import Pupil, PupilException
from kiosk.timeutil import naive_utc

#: each kind of exception, in the words staff use ("keeps phone: young carer")
KINDS: dict[str, str] = {
    "medical": "medical",
    "send": "SEND",
    "young_carer": "young carer",
    "other": "other",
}


def kind_words(kind: str) -> str:
    """The staff words for a kind code (the code itself if unknown)."""
    return KINDS.get(kind, kind)


def get_exception(session: Session, exception_id: int) -> PupilException:
    row = session.get(PupilException, exception_id)
    if row is None:
        raise ActionError(f"no exception with id {exception_id}")
    return row


def add_exception(
    session: Session,
    pupil: Pupil,
    *,
    kind: str,
    reason: str,
    agreed_by: str,
    now: datetime,
    zone,
    starts_on: date | None = None,
    until: date | None = None,
    review_on: date | None = None,
    actor: str | None = None,
) -> PupilException:
    """Record that ``pupil`` keeps their phone from ``starts_on`` (default today).

    Any year may have one. ``actor`` is who recorded it (default: who agreed).
    """
    if kind not in KINDS:
        raise ActionError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    reason = required_text(reason, "a reason", max_length=MAX_TEXT)
    agreed_by = required_text(agreed_by, "who agreed it (--by)", max_length=MAX_NAME)
    if not pupil.active:
        raise ActionError(f"{pupil.name} has left the school")
    today = local_date(now, zone)
    starts_on = starts_on or today
    check_dates(starts_on, until, today)
    row = PupilException(
        pupil_id=pupil.id, kind=kind, reason=reason, agreed_by=agreed_by, starts_on=starts_on,
        until=until, review_on=review_on, created_at=naive_utc(now),
    )
    session.add(row)
    session.flush()
    # The reason itself stays in the register (it goes with the pupil's data);
    # the audit says what was agreed, by whom, for when.
    record_event(
        session, Kind.EXCEPTION_ADDED, at=naive_utc(now), pupil_id=pupil.id,
        actor=actor or agreed_by,
        reason=(f"exception {row.id}: keeps phone ({kind_words(kind)}), agreed by {agreed_by},"
                f" from {starts_on}" + (f" until {until}" if until else "")
                + (f", review {review_on}" if review_on else "")),
    )
    return row


def end_exception(
    session: Session, row: PupilException, *, by: str, reason: str, now: datetime
) -> PupilException:
    """End an exception now: from today the pupil is expected to hand their phone in."""
    mark_ended(row, what=f"exception {row.id}", by=by, reason=reason, now=now)
    record_event(
        session, Kind.EXCEPTION_ENDED, at=row.ended_at, pupil_id=row.pupil_id, actor=row.ended_by,
        reason=f"exception {row.id} ({kind_words(row.kind)}) ended: {row.end_reason}",
    )
    session.flush()
    return row
