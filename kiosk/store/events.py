"""The one place events are written, a tap's included.

Events are append-only facts. Every staff action goes through
:func:`record_event` inside the caller's transaction, so the event commits
together with whatever state it describes (or not at all). A tap is recorded
by :func:`record_tap`: the same columns, but on a DBAPI cursor with statements
prepared once (kiosk/store/prepared.py), because it runs while a pupil waits;
the holding the tap changes is written in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, DateTime, Dialect, text
from sqlalchemy.orm import Session

from kiosk.policy import Action, Decision
from kiosk.store.models import Event
from kiosk.store.prepared import Prepared
from kiosk.timeutil import utcnow

# Plain SQL for the tap path (see record_tap and kiosk/store/prepared.py);
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
INSERT_HOLDING_SQL = text(
    "INSERT INTO holdings (pupil_id, locker_id, bay, since, event_id)"
    " VALUES (:pupil_id, :locker_id, :bay, :since, :event_id)"
)
DELETE_HOLDING_SQL = text("DELETE FROM holdings WHERE pupil_id = :pupil_id")


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
    #: the central database found that something a kiosk did offline disagrees with it
    SYNC_CONFLICT = "sync_conflict"
    #: a standalone locker's pupils, cards and history were sent to the central database
    SYNC_JOINED = "sync_joined"
    #: a kiosk reached the central database again after being offline
    SYNC_BACK_ONLINE = "sync_back_online"


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


def new_event_uid() -> str:
    """A fresh id for an event, unique across every locker (see ``Event.uid``)."""
    return uuid.uuid4().hex


def record_event(session: Session, kind: Kind | str, **fields: Any) -> Event:
    """Add an event to ``session`` and flush it (the caller commits).

    ``fields`` are those of :func:`event_values`.
    """
    event = Event(uid=new_event_uid(), **event_values(kind, **fields))
    session.add(event)
    session.flush()
    return event


def insert_event(cursor: Any, statement: Prepared, kind: Kind | str, **fields: Any) -> int:
    """:func:`record_event` for the tap path: on a DBAPI cursor with the prepared
    :data:`INSERT_EVENT_SQL`; the caller commits. Returns the new event's id."""
    statement.execute(cursor, event_values(kind, **fields))
    return cursor.fetchone()[0]


class TapRecordStatements:
    """The statements that record a tap, prepared for one engine's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.insert_event = Prepared(INSERT_EVENT_SQL, dialect, binds=INSERT_EVENT_TYPES)
        self.insert_holding = Prepared(INSERT_HOLDING_SQL, dialect, binds={"since": DateTime()})
        self.delete_holding = Prepared(DELETE_HOLDING_SQL, dialect)


def record_tap(
    cursor: Any,
    statements: TapRecordStatements,
    decision: Decision,
    *,
    uid: str,
    pupil_id: int | None,
    locker_id: str,
    at: datetime,
    clock_suspect: bool,
) -> int:
    """Record one decided tap (not an ignored one) on ``cursor``: its event, and for a
    deposit or collection the holding it creates or ends. ``at`` is naive UTC; the
    caller commits. Returns the event's id."""
    common = {
        "at": at,
        "pupil_id": pupil_id,
        "card_uid": uid,
        "locker_id": locker_id,
        "bay": decision.bay,
        "clock_suspect": clock_suspect,
    }
    notes = [decision.reason] if decision.reason else []
    if decision.overnight:
        notes.append("overnight")
    reason = ", ".join(notes) or None
    insert = statements.insert_event
    if decision.action is Action.REFUSE:
        return insert_event(cursor, insert, Kind.REFUSED, reason=reason, **common)
    if decision.action is Action.REOPEN:
        return insert_event(
            cursor, insert, Kind.REOPEN, reason=f"repeat {decision.repeats}", **common
        )
    if decision.action is Action.DEPOSIT:
        event_id = insert_event(cursor, insert, Kind.DEPOSIT, reason=reason, **common)
        statements.insert_holding.execute(
            cursor,
            {"pupil_id": pupil_id, "locker_id": locker_id, "bay": decision.bay,
             "since": at, "event_id": event_id},
        )
        return event_id
    event_id = insert_event(cursor, insert, Kind.COLLECT, reason=reason, **common)
    statements.delete_holding.execute(cursor, {"pupil_id": pupil_id})
    return event_id
