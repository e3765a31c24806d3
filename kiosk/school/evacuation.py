"""Open every bay of every locker (evacuation, emergency) and say whose phones were inside.

Record before open: the ``open_all`` event (who, why, and the phones in the
lockers at that moment) commits with the unlock commands; each locker's kiosk
then opens its bays, records its own ``override`` event, and relocks by itself
after the time asked. The event keeps pupil ids, not names: the list is drawn
from the pupils table when shown, so a retention purge leaves no names behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.errors import ActionError
from kiosk.school.commands import DEFAULT_UNLOCK_SECONDS, queue_unlock
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Command, Event, Holding, Locker, Pupil
from kiosk.timeutil import naive_utc


@dataclass(frozen=True)
class OpenAll:
    event: Event
    commands: list[Command]


def open_all(
    session: Session, *, actor: str, reason: str, now: datetime,
    seconds: float = DEFAULT_UNLOCK_SECONDS,
) -> OpenAll:
    """Record the ``open_all`` event with the phones held now and queue every locker's
    unlock (all bays). The caller has checked that a kiosk is online, and commits."""
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor or not reason:
        raise ActionError("opening every bay needs a reason and who is doing it")
    lockers = list(session.scalars(select(Locker.id).order_by(Locker.id)))
    if not lockers:
        raise ActionError("no lockers are registered yet")
    held = [
        {"pupil_id": h.pupil_id, "locker": h.locker_id, "bay": h.bay}
        for h in session.scalars(select(Holding).order_by(Holding.locker_id, Holding.bay))
    ]
    event = record_event(session, Kind.OPEN_ALL, at=naive_utc(now), actor=actor,
                         reason=f"{reason} ({len(held)} phone(s) in the lockers)")
    event.details = json.dumps({"held": held, "lockers": lockers, "seconds": seconds})
    commands = queue_unlock(session, actor=actor, reason=reason, seconds=seconds)
    session.flush()
    return OpenAll(event, commands)


def held_list(session: Session, event: Event) -> list[dict]:
    """Whose phones were in the lockers when ``event`` (an ``open_all``) happened, by
    locker and bay: ``locker, locker_name, bay, pupil_id, name, class``."""
    details = json.loads(event.details or "{}")
    held = details.get("held", [])
    pupils = {
        p.id: p for p in session.scalars(
            select(Pupil).where(Pupil.id.in_([row["pupil_id"] for row in held])))
    }
    names = {row.id: row.name for row in session.execute(select(Locker.id, Locker.name))}
    rows = []
    for row in held:
        pupil = pupils.get(row["pupil_id"])
        rows.append({
            "locker": row["locker"],
            "locker_name": names.get(row["locker"], row["locker"]),
            "bay": row["bay"],
            "pupil_id": row["pupil_id"],
            "name": pupil.name if pupil else "(pupil record removed)",
            "class": pupil.class_name if pupil else "",
        })
    rows.sort(key=lambda r: (r["locker"], r["bay"], r["name"].casefold()))
    return rows


def latest_open_all(session: Session) -> Event | None:
    return session.scalars(
        select(Event).where(Event.kind == Kind.OPEN_ALL.value)
        .order_by(Event.at.desc(), Event.id.desc()).limit(1)
    ).first()
