"""What to tell staff about a command they sent the kiosk: done, waiting, or kiosk offline.

The kiosk claims commands every ``kiosk.locker.daemon.POLL_SECONDS`` (0.5 s),
so a command still ``pending`` after :data:`PENDING_GRACE_SECONDS`, or whose
kiosk has no fresh heartbeat, is reported as "kiosk offline". (If the kiosk comes back within
``kiosk.school.commands.STALE_SECONDS`` it still carries the command out, and the
page, still polling, then says "done"; later than that the kiosk expires it.)
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from kiosk.school.commands import DEFAULT_UNLOCK_SECONDS, FINISHED, kiosk_online
from kiosk.store.models import Command
from kiosk.timeutil import naive_utc
from web.helpers import config, local, now

PENDING_GRACE_SECONDS = 3.0


def relocks_at(command: Command) -> str | None:
    """``HH:MM:SS`` (school time) when a carried-out unlock locks again: when the kiosk
    carried it out (``finished_at``, its clock) plus the command's seconds; else None."""
    if command.kind != "unlock" or command.status != "done" or command.finished_at is None:
        return None
    seconds = command.seconds or DEFAULT_UNLOCK_SECONDS
    return local(command.finished_at + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def describe(session: Session, command: Command) -> dict:
    """The command as JSON for ``/api/commands/<id>``: status, result, a display line and,
    for a carried-out unlock, ``relocks_at`` (``HH:MM:SS``, also in the display line)."""
    moment = naive_utc(now())
    online = kiosk_online(session, command.locker_id, max_age=config().web.offline_after_seconds,
                          now=moment)
    age = (moment - command.created_at).total_seconds()
    result = command.result or ""
    relocks = relocks_at(command)
    if command.status == "done":
        tone, display = "ok", f"done: {result}"
        if relocks:
            display += f" — relocks at {relocks}"
    elif command.status == "failed":
        tone, display = "error", f"failed: {result}"
    elif command.status == "expired":
        tone, display = "error", "kiosk offline: not carried out (the request expired)"
    elif not online or (command.status == "pending" and age > PENDING_GRACE_SECONDS):
        tone, display = "error", "kiosk offline"
    elif command.status == "running" and command.kind == "enrol":
        tone, display = "wait", "waiting for a card: tap it on the reader now"
    else:
        tone, display = "wait", "sent to the kiosk…"
    return {
        "id": command.id,
        "kind": command.kind,
        "locker": command.locker_id,
        "bay": command.bay,
        "status": command.status,
        "result": command.result,
        "card_uid": command.card_uid,
        "finished": command.status in FINISHED,
        "relocks_at": relocks,
        "tone": tone,
        "display": display,
    }
