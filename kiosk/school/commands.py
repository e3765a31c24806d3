"""The commands table: how the dashboard and the CLI ask the kiosk to act.

The web process never touches a pin. It writes a :class:`~kiosk.store.models.Command`
row; the kiosk claims it within a second, carries it out and writes the
outcome. A command the kiosk has not claimed within ``STALE_SECONDS`` is
expired instead of carried out, so an emergency unlock queued while the kiosk
was down does not open the locker hours later.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.school.heartbeats import fresh_heartbeat
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Command, KioskStatus, Locker
from kiosk.timeutil import naive_utc

STALE_SECONDS = 15.0
FINISHED = ("done", "failed", "expired")
DEFAULT_UNLOCK_SECONDS = 10.0


class KioskOffline(Exception):
    """No kiosk has written a fresh heartbeat."""


def kiosk_online(
    session: Session, locker_id: str | None, *, max_age: float, now: datetime | None = None
) -> bool:
    """True when the locker's kiosk (or, with ``None``, any kiosk) has a fresh heartbeat."""
    now = naive_utc(now)
    query = select(KioskStatus.updated_at).where(fresh_heartbeat(now, max_age))
    if locker_id is not None:
        query = query.where(KioskStatus.locker_id == locker_id)
    return session.execute(query.limit(1)).first() is not None


def queue_unlock(
    session: Session,
    *,
    actor: str,
    reason: str,
    locker_id: str | None = None,
    bay: int | None = None,
    seconds: float = DEFAULT_UNLOCK_SECONDS,
    now: datetime | None = None,
) -> list[Command]:
    """Queue an emergency unlock; ``locker_id=None`` queues one per known locker.

    ``now`` is the caller's clock: the kiosk expires the command
    ``STALE_SECONDS`` after it.
    """
    at = naive_utc(now)
    if not reason or not reason.strip():
        raise ValueError("an emergency unlock needs a reason")
    if locker_id is None:
        lockers = list(session.scalars(select(Locker.id)))
    else:
        lockers = [locker_id]
    commands = [
        Command(
            kind="unlock", locker_id=locker, bay=bay, seconds=seconds, actor=actor,
            reason=reason.strip(), status="pending", created_at=at,
        )
        for locker in lockers
    ]
    session.add_all(commands)
    session.flush()
    return commands


def queue_enrol(
    session: Session,
    *,
    pupil_id: int,
    actor: str,
    locker_id: str | None = None,
    now: datetime | None = None,
) -> Command:
    """Ask the kiosk to give the next card tapped to ``pupil_id``."""
    command = Command(
        kind="enrol", locker_id=locker_id, pupil_id=pupil_id, actor=actor, status="pending",
        created_at=naive_utc(now),
    )
    session.add(command)
    session.flush()
    return command


def wait_for(db: Database, command_ids: list[int], timeout: float) -> list[Command]:
    """Poll until every command has finished or ``timeout`` passes; return them as they are."""
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            commands = list(session.scalars(select(Command).where(Command.id.in_(command_ids))))
        if all(command.status in FINISHED for command in commands):
            return commands
        if time.monotonic() >= deadline:
            return commands
        time.sleep(0.1)


# --- kiosk side ---------------------------------------------------------------


def claim(session: Session, locker_id: str, now: datetime | None = None) -> list[Command]:
    """Mark this locker's pending commands running (or expired if stale); return the live ones."""
    now = naive_utc(now)
    pending = session.scalars(
        select(Command)
        .where(
            Command.status == "pending",
            (Command.locker_id == locker_id) | (Command.locker_id.is_(None)),
        )
        .order_by(Command.id)
    ).all()
    live = []
    for command in pending:
        if command.created_at < now - timedelta(seconds=STALE_SECONDS):
            finish(command, "expired", "the kiosk was not running when this was asked", now)
            record_event(
                session, Kind.COMMAND_EXPIRED, at=now, locker_id=locker_id, bay=command.bay,
                pupil_id=command.pupil_id, actor=command.actor,
                reason=f"{command.kind} asked at {command.created_at:%H:%M:%S} UTC not carried out",
            )
        else:
            command.status = "running"
            live.append(command)
    return live


def finish(command: Command, status: str, result: str, now: datetime | None = None) -> None:
    command.status = status
    command.result = result
    command.finished_at = naive_utc(now)


def forget_locker(
    session: Session, locker_id: str, *, actor: str, now: datetime | None = None
) -> None:
    """Remove a locker that no longer exists (e.g. renamed in the config).

    Refused while a phone is recorded in it. Its events stay in the log.
    """
    from kiosk.errors import ActionError
    from kiosk.store.models import Holding

    locker = session.get(Locker, locker_id)
    if locker is None:
        raise ActionError(f"no locker {locker_id!r}")
    held = session.scalars(select(Holding.pupil_id).where(Holding.locker_id == locker_id)).all()
    if held:
        raise ActionError(
            f"locker {locker_id} still holds {len(held)} phone(s): collect them first"
        )
    status = session.get(KioskStatus, locker_id)
    if status is not None:
        session.delete(status)
    session.delete(locker)
    record_event(
        session, Kind.LOCKER_FORGOTTEN, at=naive_utc(now), locker_id=locker_id, actor=actor
    )
