"""The ``notices`` outbox: queue a notice once, send what is due, back off on failure.

A notice's key is (kind, occasion, address), UNIQUE in the table, so queueing
the same occasion again (the next minute, after a restart) adds nothing.

Sending a row:

1. *claim* it: one UPDATE that pushes ``next_attempt_at`` :data:`CLAIM` ahead
   and counts the attempt, only if it is still pending and due, committed; a
   second ``notify`` running at the same time claims nothing;
2. hand it to the SMTP server;
3. mark it ``sent`` and commit, straight after the server accepted it.

A crash between 2 and 3 leaves the row claimed; it is sent again when the
claim runs out. That one message in flight is the only one that can ever
arrive twice. A failure keeps the row ``pending`` with ``last_error`` and
``next_attempt_at`` pushed back by :func:`backoff` (1, 2, 4 ... 60 minutes);
nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from kiosk.store.models import Notice
from kiosk.timeutil import naive_utc

CLAIM = timedelta(minutes=10)
#: sent notices are deleted after this: their bodies name pupils
KEEP_SENT = timedelta(days=30)
MAX_BACKOFF_MINUTES = 60


@dataclass(frozen=True)
class Queued:
    """A notice to queue: which occasion, for whom, and its words."""

    kind: str
    occasion: str
    address: str
    subject: str
    body: str


class DeliveryError(Exception):
    """The server refused or could not be reached. ``connection``: stop this run."""

    def __init__(self, message: str, *, connection: bool) -> None:
        super().__init__(message)
        self.connection = connection


class Transport(Protocol):
    """Something that delivers one notice or raises :class:`DeliveryError`."""

    def send(self, notice: Notice) -> None: ...

    def close(self) -> None: ...


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 1, 2, 4 ... up to 60 minutes."""
    return timedelta(minutes=min(MAX_BACKOFF_MINUTES, 2 ** max(0, min(attempts - 1, 6))))


def queue(session: Session, items: Iterable[Queued], now: datetime) -> list[Notice]:
    """Add the notices not queued before; return the new rows (the caller commits).

    Portable: ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL,
    so two runs racing on the same occasion add it once.
    """
    stamp = naive_utc(now)
    added: list[Notice] = []
    dialect = session.get_bind().dialect.name
    for item in items:
        values = {
            "kind": item.kind, "occasion": item.occasion, "address": item.address,
            "subject": item.subject, "body": item.body, "status": "pending", "attempts": 0,
            "created_at": stamp, "next_attempt_at": stamp,
        }
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            statement = (
                dialect_insert(Notice).values(**values)
                .on_conflict_do_nothing(index_elements=["kind", "occasion", "address"])
                .returning(Notice.id)
            )
            new_id = session.execute(statement).scalar()
        else:  # pragma: no cover - other databases: check, then insert
            exists = session.scalar(select(Notice.id).where(
                Notice.kind == item.kind, Notice.occasion == item.occasion,
                Notice.address == item.address))
            new_id = None if exists else session.execute(
                insert(Notice).values(**values).returning(Notice.id)).scalar()
        if new_id is not None:
            added.append(session.get(Notice, new_id))
    return added


def due(session: Session, now: datetime, limit: int = 200) -> list[Notice]:
    """Pending notices whose next attempt is at or before ``now``, oldest first."""
    query = (
        select(Notice)
        .where(Notice.status == "pending", Notice.next_attempt_at <= naive_utc(now))
        .order_by(Notice.created_at, Notice.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _claim(session: Session, notice_id: int, now: datetime) -> bool:
    stamp = naive_utc(now)
    result = session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.status == "pending",
               Notice.next_attempt_at <= stamp)
        .values(next_attempt_at=stamp + CLAIM, attempts=Notice.attempts + 1)
    )
    session.commit()
    return result.rowcount == 1


@dataclass
class SendReport:
    sent: list[Notice] = field(default_factory=list)
    failed: list[Notice] = field(default_factory=list)
    #: the run stopped early: the server could not be reached
    stopped: str | None = None


def send_due(
    session: Session, now: datetime, connect: Callable[[], Transport]
) -> SendReport:
    """Send every due notice through one connection made by ``connect`` (when needed).

    Commits after each notice. A connection failure (refused, timed out, 421)
    ends the run: the rest stay due and are tried next minute.
    """
    report = SendReport()
    transport: Transport | None = None
    try:
        for notice in due(session, now):
            if not _claim(session, notice.id, now):
                continue
            session.refresh(notice)
            try:
                if transport is None:
                    transport = connect()
                transport.send(notice)
            except DeliveryError as error:
                notice.last_error = f"{naive_utc(now):%Y-%m-%d %H:%M} UTC: {error}"[:2000]
                notice.next_attempt_at = naive_utc(now) + backoff(notice.attempts)
                session.commit()
                report.failed.append(notice)
                if error.connection:
                    report.stopped = str(error)
                    if transport is not None:
                        transport.close()
                        transport = None
                    break
                continue
            notice.status = "sent"
            notice.sent_at = naive_utc(now)
            notice.last_error = None
            session.commit()
            report.sent.append(notice)
    finally:
        if transport is not None:
            transport.close()
    return report


def prune(session: Session, now: datetime) -> int:
    """Delete notices sent more than :data:`KEEP_SENT` ago; the caller commits.

    An occasion is only ever found again while it is current (today, an open
    fault, an event after the cursor), so forgetting old rows re-sends nothing.
    """
    cutoff = naive_utc(now) - KEEP_SENT
    result = session.execute(
        delete(Notice).where(Notice.status == "sent", Notice.sent_at < cutoff)
    )
    return result.rowcount or 0
