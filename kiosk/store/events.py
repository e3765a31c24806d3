"""The one place events are written.

Events are append-only facts. Every tap decision and every staff action goes
through :func:`record_event` inside the caller's transaction, so the event
commits together with whatever state it describes (or not at all).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, DateTime, text
from sqlalchemy.orm import Session

from kiosk.store.models import Event
from kiosk.store.prepared import Prepared
from kiosk.timeutil import utcnow

# Plain SQL for the tap path (see kiosk/locker/tap.py and kiosk/store/prepared.py);
# RETURNING works on SQLite 3.35+ and PostgreSQL.
INSERT_EVENT_SQL = text(
    "INSERT INTO events (at, kind, pupil_id, card_uid, locker_id, bay, actor, reason,"
    " clock_suspect) VALUES (:at, :kind, :pupil_id, :card_uid, :locker_id, :bay, :actor,"
    " :reason, :clock_suspect) RETURNING id"
)
INSERT_EVENT_TYPES = {"at": DateTime(), "clock_suspect": Boolean()}
#: the same without RETURNING, for bulk writers (the import, the rollover) that add
#: many events in one executemany (kiosk.store.prepared.run_many) inside a short write
INSERT_EVENTS_SQL = text(str(INSERT_EVENT_SQL.text).removesuffix(" RETURNING id"))


class Kind(StrEnum):
    DEPOSIT = "deposit"
    COLLECT = "collect"
    REOPEN = "reopen"
    REFUSED = "refused"
    OVERRIDE = "override"
    ENROL = "enrol"
    FORCED_DOOR = "forced_door"
    CARD_REVOKED = "card_revoked"
    APPROVED = "approved"
    APPROVAL_REVOKED = "approval_revoked"
    EARLY_RELEASE = "early_release"
    OFFICE_RETURN = "office_return"
    KEPT_IN_OFFICE = "kept_in_office"
    PUPIL_ADDED = "pupil_added"
    PUPIL_UPDATED = "pupil_updated"
    IMPORT = "import"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    READER_FAULT = "reader_fault"
    READER_OK = "reader_ok"
    KIOSK_STARTED = "kiosk_started"
    KIOSK_STOPPED = "kiosk_stopped"
    LOCKER_FORGOTTEN = "locker_forgotten"
    COMMAND_EXPIRED = "command_expired"
    PURGE = "purge"
    ROLLOVER = "rollover"
    EXCEPTION_ADDED = "exception_added"
    EXCEPTION_ENDED = "exception_ended"
    ARRANGEMENT_ADDED = "arrangement_added"
    ARRANGEMENT_ENDED = "arrangement_ended"
    CALENDAR_SET = "calendar_set"
    CALENDAR_CLEARED = "calendar_cleared"
    CLOSING_EARLY = "closing_early"
    OPEN_ALL = "open_all"


def event_values(
    kind: Kind | str,
    *,
    at: datetime | None = None,
    pupil_id: int | None = None,
    card_uid: str | None = None,
    locker_id: str | None = None,
    bay: int | None = None,
    actor: str | None = None,
    reason: str | None = None,
    clock_suspect: bool = False,
) -> dict:
    """The columns of one event; ``at`` is naive UTC (now if not given)."""
    return {
        "at": at or utcnow(),
        "kind": str(kind),
        "pupil_id": pupil_id,
        "card_uid": card_uid,
        "locker_id": locker_id,
        "bay": bay,
        "actor": actor,
        "reason": reason,
        "clock_suspect": clock_suspect,
    }


def record_event(session: Session, kind: Kind | str, **fields: Any) -> Event:
    """Add an event to ``session`` and flush it (the caller commits).

    ``fields`` are those of :func:`event_values`.
    """
    event = Event(**event_values(kind, **fields))
    session.add(event)
    session.flush()
    return event


def insert_event(cursor: Any, statement: Prepared, kind: Kind | str, **fields: Any) -> int:
    """:func:`record_event` for the tap path: on a DBAPI cursor with the prepared
    :data:`INSERT_EVENT_SQL`; the caller commits. Returns the new event's id."""
    statement.execute(cursor, event_values(kind, **fields))
    return cursor.fetchone()[0]
