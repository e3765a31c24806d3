"""Staff actions on pupils and cards, shared by the CLI and the dashboard.

Each function changes the data and records an event in the caller's session;
the caller commits. Errors the user can fix raise :class:`ActionError` with a
message fit to show them.

Every action that stamps a time takes ``now`` (aware, or naive UTC) from the
caller's clock: the dashboard's ``CLOCK``, the kiosk's injected clock, or the
CLI's one reading per command. Only a caller that passes nothing gets the wall
clock, so a test that moves its clock gets stamps that agree with it.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.errors import ActionError
from kiosk.inputs import InputError, check_text
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Bay, Card, EarlyRelease, Holding, Pupil, Year5Approval
from kiosk.timeutil import naive_utc

UID_PATTERN = re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")
MIN_YEAR, MAX_YEAR = 0, 13


def normalise_uid(text: str) -> str:
    """Upper-case hex UID of 4, 7 or 10 bytes; separators ``:``, ``-`` and spaces allowed."""
    uid = re.sub(r"[\s:\-]", "", text or "").upper()
    if not UID_PATTERN.match(uid):
        raise ActionError(
            f"{text!r} is not a card UID: expected 4, 7 or 10 bytes of hex, e.g. 04A1B2C3D4E5F6"
        )
    return uid


def check_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ActionError(f"year {year} is not a school year ({MIN_YEAR}-{MAX_YEAR})")
    return year


def check_name(text: str, what: str) -> str:
    """``text`` stripped; ActionError if it holds control characters (a NUL or an escape
    sequence in a name would corrupt lists, CSV exports and terminals)."""
    try:
        return check_text(text.strip(), what)
    except InputError as error:
        raise ActionError(str(error)) from None


def get_pupil(session: Session, pupil_id: int) -> Pupil:
    pupil = session.get(Pupil, pupil_id)
    if pupil is None:
        raise ActionError(f"no pupil with id {pupil_id}")
    return pupil


def active_card(session: Session, uid: str) -> Card | None:
    return session.scalars(select(Card).where(Card.uid == uid, Card.active)).first()


def add_pupil(
    session: Session,
    *,
    name: str,
    year: int,
    class_name: str,
    actor: str,
    card_uid: str | None = None,
    external_id: str | None = None,
    bay: int | None = None,
    now: datetime | None = None,
) -> Pupil:
    at = naive_utc(now)
    name, class_name = check_name(name, "name"), check_name(class_name, "class")
    if not name:
        raise ActionError("a pupil needs a name")
    if not class_name:
        raise ActionError("a pupil needs a class")
    if external_id and session.scalar(select(Pupil.id).where(Pupil.external_id == external_id)):
        raise ActionError(f"another pupil already has the UPN {external_id}")
    pupil = Pupil(
        name=name,
        year=check_year(year),
        class_name=class_name,
        external_id=check_name(external_id, "UPN") or None if external_id else None,
        bay=bay,
        active=True,
        created_at=at,
    )
    session.add(pupil)
    session.flush()
    record_event(session, Kind.PUPIL_ADDED, at=at, pupil_id=pupil.id, actor=actor)
    if card_uid:
        assign_card(session, pupil, card_uid, actor=actor, now=at)
    return pupil


def update_pupil(
    session: Session,
    pupil: Pupil,
    *,
    actor: str,
    name: str | None = None,
    year: int | None = None,
    class_name: str | None = None,
    active: bool | None = None,
    bay: int | None = ...,  # type: ignore[assignment]
    now: datetime | None = None,
) -> list[str]:
    """Change the given fields; return the names of the fields that changed."""
    at = naive_utc(now)
    changed = []
    name = None if name is None else check_name(name, "name")
    class_name = None if class_name is None else check_name(class_name, "class")
    if name is not None and name.strip() and name.strip() != pupil.name:
        pupil.name = name.strip()
        changed.append("name")
    if year is not None and year != pupil.year:
        pupil.year = check_year(year)
        changed.append("year")
    if class_name is not None and class_name.strip() and class_name.strip() != pupil.class_name:
        pupil.class_name = class_name.strip()
        changed.append("class")
    if active is not None and active != pupil.active:
        pupil.active = active
        pupil.left_at = None if active else at
        changed.append("active" if active else "deactivated")
    if bay is not ... and bay != pupil.bay:
        pupil.bay = bay
        changed.append("bay")
    if changed:
        record_event(
            session, Kind.PUPIL_UPDATED, at=at, pupil_id=pupil.id, actor=actor,
            reason=", ".join(changed),
        )
    return changed


def assign_card(
    session: Session,
    pupil: Pupil,
    uid: str,
    *,
    actor: str,
    locker_id: str | None = None,
    now: datetime | None = None,
) -> Card:
    """Give ``pupil`` the card ``uid``; their other active cards are revoked (a replacement)."""
    at = naive_utc(now)
    uid = normalise_uid(uid)
    existing = active_card(session, uid)
    if existing is not None:
        if existing.pupil_id == pupil.id:
            return existing
        raise ActionError(f"card {uid} already belongs to another pupil (id {existing.pupil_id})")
    for card in pupil.cards:
        if card.active:
            _revoke(session, card, actor=actor, reason=f"replaced by {uid}", at=at)
    card = Card(uid=uid, pupil=pupil, active=True, issued_at=at)
    session.add(card)
    session.flush()
    record_event(
        session, Kind.ENROL, at=at, pupil_id=pupil.id, card_uid=uid, locker_id=locker_id,
        actor=actor,
    )
    return card


def _revoke(session: Session, card: Card, *, actor: str, reason: str, at: datetime) -> None:
    card.active = False
    card.revoked_at = at
    session.flush()
    record_event(
        session, Kind.CARD_REVOKED, at=at, pupil_id=card.pupil_id, card_uid=card.uid, actor=actor,
        reason=reason,
    )


def revoke_card(
    session: Session, uid: str, *, actor: str, reason: str = "lost", now: datetime | None = None
) -> Card:
    """Cancel a lost card: it is refused from now on, and stays in the pupil's history."""
    card = active_card(session, normalise_uid(uid))
    if card is None:
        raise ActionError(f"no active card {uid}")
    _revoke(session, card, actor=actor, reason=reason, at=naive_utc(now))
    return card


def approve_year5(
    session: Session,
    pupil: Pupil,
    *,
    by: str,
    until: date | None = None,
    actor: str | None = None,
    now: datetime | None = None,
    today: date | None = None,
) -> Year5Approval:
    """Record the senior leadership team's agreement that a Year 5 pupil may bring a phone.

    The approval is in force from ``now``; ``today`` (the school's local date,
    default: the UTC date of ``now``) is what an ``until`` in the past means.
    """
    if not by.strip():
        raise ActionError("say who on the senior leadership team agreed (--by)")
    if pupil.year != 5:
        raise ActionError(f"{pupil.name} is in Year {pupil.year}: approvals are for Year 5")
    at = naive_utc(now)
    if until is not None and until < (today or at.date()):
        raise ActionError(f"the end date {until} is in the past")
    approval = Year5Approval(pupil=pupil, approved_by=by.strip(), approved_at=at, until=until)
    session.add(approval)
    session.flush()
    reason = f"agreed by {by.strip()}" + (f" until {until}" if until else "")
    record_event(session, Kind.APPROVED, at=at, pupil_id=pupil.id, actor=actor or by, reason=reason)
    return approval


def revoke_year5(
    session: Session, pupil: Pupil, *, actor: str, reason: str, now: datetime | None = None
) -> int:
    """End every approval in force for ``pupil``; return how many were ended."""
    at = naive_utc(now)
    count = 0
    for approval in pupil.approvals:
        if approval.revoked_at is None:
            approval.revoked_at = at
            approval.revoked_by = actor
            count += 1
    if count:
        record_event(
            session, Kind.APPROVAL_REVOKED, at=at, pupil_id=pupil.id, actor=actor, reason=reason
        )
    return count


def release_early(
    session: Session,
    pupil: Pupil,
    *,
    by: str,
    reason: str,
    on_date: date,
    now: datetime | None = None,
) -> EarlyRelease:
    """Authorise ``pupil`` to collect before collection time on ``on_date`` (local)."""
    if not reason.strip():
        raise ActionError("an early collection needs a reason")
    if not by.strip():
        raise ActionError("say who authorised the early collection (--by)")
    at = naive_utc(now)
    release = EarlyRelease(
        pupil_id=pupil.id, on_date=on_date, by=by.strip(), reason=reason.strip(), created_at=at
    )
    session.add(release)
    record_event(
        session, Kind.EARLY_RELEASE, at=at, pupil_id=pupil.id, actor=by.strip(),
        reason=reason.strip(),
    )
    return release


def office_takes_phone(
    session: Session,
    pupil: Pupil,
    *,
    actor: str,
    reason: str,
    kind: Kind = Kind.OFFICE_RETURN,
    now: datetime | None = None,
) -> None:
    """The office has taken the phone out (handed back to a parent, or kept in the office).

    The holding ends so the kiosk no longer expects the phone in the locker.
    """
    if not reason.strip():
        raise ActionError("say why (a reason is required)")
    holding = session.get(Holding, pupil.id)
    if holding is None:
        raise ActionError(f"{pupil.name}'s phone is not recorded as in a locker")
    record_event(
        session, kind, at=naive_utc(now), pupil_id=pupil.id, locker_id=holding.locker_id,
        bay=holding.bay, actor=actor, reason=reason.strip(),
    )
    session.delete(holding)


def parse_date(text: str, what: str = "date") -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ActionError(f"{what} {text!r} is not a date YYYY-MM-DD") from None


def known_bays(session, config) -> set[int]:
    """Bay numbers a pupil may be given: those of the configured locker and of every
    locker a kiosk has registered in the database (a school may run several)."""
    numbers = {bay.number for bay in config.locker.bays}
    numbers.update(session.scalars(select(Bay.number)))
    return numbers
