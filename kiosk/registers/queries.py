"""Reading the registers: in force on a day, due for review, rows for the CLI and dashboard.

Stored times are naive UTC; a day is the school's local day. Dates go out
as ``YYYY-MM-DD``, times as ISO 8601 in the school's zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kiosk.config import Config
from kiosk.policy import Period, exception_in_force, review_due
from kiosk.registers.exceptions import kind_words
from kiosk.store.models import Pupil, PupilException, StaffArrangement


def period(row: PupilException | StaffArrangement, zone) -> Period:
    """The days a register row covers (its early end as a local day)."""
    ended_on = None
    if row.ended_at is not None:
        ended_on = row.ended_at.replace(tzinfo=UTC).astimezone(zone).date()
    return Period(starts_on=row.starts_on, until=row.until, ended_on=ended_on)


def standing(row: PupilException | StaffArrangement, day: date, zone) -> str:
    """``in_force``, ``starts_later``, ``ended`` (ended early) or ``expired`` (past until)."""
    span = period(row, zone)
    if exception_in_force(span, day):
        return "in_force"
    if span.ended_on is not None and span.ended_on <= day:
        return "ended"
    if span.until is not None and span.until < day:
        return "expired"
    return "starts_later"


def exceptions_in_force(session: Session, day: date, zone) -> dict[int, PupilException]:
    """pupil id -> the exception in force on ``day`` (the longest-lasting if several).

    One query for every pupil; the rule itself is :func:`exception_in_force`.
    """
    rows = session.scalars(
        select(PupilException)
        .where(PupilException.starts_on <= day,
               or_(PupilException.until.is_(None), PupilException.until >= day))
        .order_by(PupilException.id)
    )
    found: dict[int, PupilException] = {}
    for row in rows:
        if not exception_in_force(period(row, zone), day):
            continue
        best = found.get(row.pupil_id)
        if best is None or _lasts_longer(row, best):
            found[row.pupil_id] = row
    return found


def _lasts_longer(row: PupilException, other: PupilException) -> bool:
    if other.until is None:
        return False
    return row.until is None or row.until > other.until


def status_field(row: PupilException | None) -> dict | None:
    """The ``exception`` field of a pupil in ``status --json``: null or {kind, until, review}."""
    if row is None:
        return None
    return {
        "kind": row.kind,
        "until": _day(row.until),
        "review": _day(row.review_on),
    }


def list_exceptions(
    session: Session, *, classes: list[str] | None = None, pupil_id: int | None = None
) -> list[tuple[PupilException, Pupil]]:
    """Every exception with its pupil, newest first; ``classes`` limits to those classes."""
    query = (select(PupilException, Pupil).join(Pupil, Pupil.id == PupilException.pupil_id)
             .order_by(PupilException.id.desc()))
    if classes is not None:
        query = query.where(Pupil.class_name.in_(classes))
    if pupil_id is not None:
        query = query.where(PupilException.pupil_id == pupil_id)
    return [(row, pupil) for row, pupil in session.execute(query).all()]


def exception_row(row: PupilException, pupil: Pupil, config: Config, day: date) -> dict:
    """One exception as ``exceptions list --json`` gives it (and the dashboard shows it)."""
    zone = config.policy.zone
    state = standing(row, day, zone)
    return {
        "id": row.id,
        "pupil_id": row.pupil_id,
        "pupil": pupil.name,
        "class": pupil.class_name,
        "kind": row.kind,
        "kind_words": kind_words(row.kind),
        "reason": row.reason,
        "agreed_by": row.agreed_by,
        "from": _day(row.starts_on),
        "until": _day(row.until),
        "review": _day(row.review_on),
        "created_at": _iso(row.created_at, zone),
        "ended_at": _iso(row.ended_at, zone),
        "ended_by": row.ended_by,
        "end_reason": row.end_reason,
        "standing": state,
        "review_due": state in ("in_force", "starts_later") and review_due(row.review_on, day),
    }


def due_for_review(rows: list[dict]) -> list[dict]:
    """Of :func:`exception_row` rows, those still running whose review date has passed or is
    within the notice period, soonest first."""
    return sorted((r for r in rows if r["review_due"]), key=lambda r: (r["review"], r["id"]))


def count_due_for_review(session: Session, day: date, zone) -> int:
    """How many running exceptions are due for review on ``day`` (for the office's Today)."""
    rows = session.scalars(
        select(PupilException).where(PupilException.review_on.is_not(None))
    )
    return sum(
        1 for row in rows
        if standing(row, day, zone) in ("in_force", "starts_later")
        and review_due(row.review_on, day)
    )


def list_arrangements(session: Session, *, staff: str | None = None) -> list[StaffArrangement]:
    """Every staff arrangement, newest first; ``staff`` (any case) limits to one person."""
    rows = session.scalars(select(StaffArrangement).order_by(StaffArrangement.id.desc()))
    if staff is None:
        return list(rows)
    # compared in Python: SQLite's lower() folds ASCII only ("Ó Néill")
    wanted = staff.strip().casefold()
    return [row for row in rows if row.staff_name.casefold() == wanted]


def arrangement_row(row: StaffArrangement, config: Config, day: date) -> dict:
    """One arrangement as ``arrangements list --json`` gives it."""
    zone = config.policy.zone
    return {
        "id": row.id,
        "staff": row.staff_name,
        "what": row.arrangement,
        "agreed_by": row.agreed_by,
        "from": _day(row.starts_on),
        "until": _day(row.until),
        "created_at": _iso(row.created_at, zone),
        "ended_at": _iso(row.ended_at, zone),
        "ended_by": row.ended_by,
        "end_reason": row.end_reason,
        "standing": standing(row, day, zone),
    }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _iso(moment: datetime | None, zone) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone).isoformat(timespec="seconds")
