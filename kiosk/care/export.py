"""Subject access: everything held about one pupil, as a JSON-ready dict.

Pure domain function; the click command is in :mod:`kiosk.cli.care`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.config import Config
from kiosk.errors import MaintenanceError
from kiosk.store.models import (
    Card,
    Command,
    EarlyRelease,
    Event,
    Holding,
    KioskStatus,
    Pupil,
    PupilException,
    Year5Approval,
)
from kiosk.timeutil import naive_utc


def iso_local(moment: datetime | None, config: Config) -> str | None:
    """Stored naive UTC -> ISO 8601 in the school's zone with its offset."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(config.policy.zone).isoformat()


def export_pupil(
    session: Session, pupil_id: int, config: Config, *, now: datetime | None = None
) -> dict:
    """Everything held about one pupil, for a subject access request.

    Events are those recorded against the pupil, plus taps of one of their card
    UIDs that were recorded against no pupil (an unknown-card tap before the
    card was enrolled). Times are ISO 8601 in the school's zone with the offset.
    """
    pupil = session.get(Pupil, pupil_id)
    if pupil is None:
        raise MaintenanceError(f"no pupil with id {pupil_id}")

    def when(moment):
        return iso_local(moment, config)

    def day(value: date | None):
        return value.isoformat() if value else None

    cards = session.scalars(
        select(Card).where(Card.pupil_id == pupil_id).order_by(Card.issued_at, Card.id)
    ).all()
    uids = sorted({card.uid for card in cards})
    approvals = session.scalars(
        select(Year5Approval)
        .where(Year5Approval.pupil_id == pupil_id)
        .order_by(Year5Approval.approved_at, Year5Approval.id)
    ).all()
    releases = session.scalars(
        select(EarlyRelease)
        .where(EarlyRelease.pupil_id == pupil_id)
        .order_by(EarlyRelease.on_date, EarlyRelease.id)
    ).all()
    exceptions = session.scalars(
        select(PupilException)
        .where(PupilException.pupil_id == pupil_id)
        .order_by(PupilException.starts_on, PupilException.id)
    ).all()
    holding = session.get(Holding, pupil_id)
    events = session.scalars(
        select(Event)
        .where(
            (Event.pupil_id == pupil_id)
            | (Event.pupil_id.is_(None) & Event.card_uid.in_(uids))
        )
        .order_by(Event.at, Event.id)
    ).all()
    commands = session.scalars(
        select(Command).where(Command.pupil_id == pupil_id).order_by(Command.id)
    ).all()
    last_taps = session.scalars(
        select(KioskStatus).where(KioskStatus.last_tap_uid.in_(uids))
    ).all()
    return {
        "exported_at": when(naive_utc(now)),
        "time_zone": config.policy.timezone,
        "pupil": {
            "id": pupil.id,
            "external_id": pupil.external_id,
            "name": pupil.name,
            "year": pupil.year,
            "class": pupil.class_name,
            "active": pupil.active,
            "locker_id": pupil.locker_id,
            "bay": pupil.bay,
            "created_at": when(pupil.created_at),
            "left_at": when(pupil.left_at),
        },
        "cards": [
            {
                "id": card.id,
                "uid": card.uid,
                "active": card.active,
                "issued_at": when(card.issued_at),
                "revoked_at": when(card.revoked_at),
            }
            for card in cards
        ],
        "year5_approvals": [
            {
                "id": a.id,
                "approved_by": a.approved_by,
                "approved_at": when(a.approved_at),
                "until": day(a.until),
                "revoked_at": when(a.revoked_at),
                "revoked_by": a.revoked_by,
            }
            for a in approvals
        ],
        "early_releases": [
            {
                "id": r.id,
                "on_date": day(r.on_date),
                "by": r.by,
                "reason": r.reason,
                "created_at": when(r.created_at),
            }
            for r in releases
        ],
        "exceptions": [
            {
                "id": x.id,
                "kind": x.kind,
                "reason": x.reason,
                "agreed_by": x.agreed_by,
                "from": day(x.starts_on),
                "until": day(x.until),
                "review": day(x.review_on),
                "created_at": when(x.created_at),
                "ended_at": when(x.ended_at),
                "ended_by": x.ended_by,
                "end_reason": x.end_reason,
            }
            for x in exceptions
        ],
        "holdings": [
            {
                "locker_id": holding.locker_id,
                "bay": holding.bay,
                "since": when(holding.since),
                "event_id": holding.event_id,
            }
        ]
        if holding
        else [],
        "events": [
            {
                "id": e.id,
                "at": when(e.at),
                "kind": e.kind,
                "pupil_id": e.pupil_id,
                "card_uid": e.card_uid,
                "locker_id": e.locker_id,
                "bay": e.bay,
                "actor": e.actor,
                "reason": e.reason,
                "clock_suspect": e.clock_suspect,
            }
            for e in events
        ],
        "commands": [
            {
                "id": c.id,
                "kind": c.kind,
                "locker_id": c.locker_id,
                "actor": c.actor,
                "status": c.status,
                "result": c.result,
                "card_uid": c.card_uid,
                "created_at": when(c.created_at),
                "finished_at": when(c.finished_at),
            }
            for c in commands
        ],
        "kiosk_last_tap": [
            {"locker_id": s.locker_id, "uid": s.last_tap_uid, "at": when(s.last_tap_at),
             "result": s.last_tap_result}
            for s in last_taps
        ],
    }
