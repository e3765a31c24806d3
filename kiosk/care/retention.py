"""Retention: the purge of what is past the school's retention periods.

Pure domain functions; the click command is in :mod:`kiosk.cli.care`.

Everything is counted first; then the purge writes in short transactions
(old events a few thousand at a time, leavers a couple of hundred at a
time, each committed), so the kiosk never waits long on it. Each chunk is
whole on its own and the criteria are re-applied by every chunk, so an
interrupted purge is finished by running it again.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from kiosk.care.common import count_rows
from kiosk.store.db import begin_write
from kiosk.store.events import Kind, record_event
from kiosk.store.models import (
    Card,
    Command,
    EarlyRelease,
    Event,
    Holding,
    Pupil,
    PupilException,
    StaffArrangement,
    Year5Approval,
)
from kiosk.timeutil import naive_utc

#: finished commands (done, failed, expired) older than this are deleted by the purge
COMMANDS_KEEP_DAYS = 30
FINISHED_COMMANDS = ("done", "failed", "expired")
#: the purge deletes in chunks, one short transaction each, so the kiosk's taps
#: wait milliseconds for it, not the whole purge (each chunk is a few tens of ms)
EVENTS_PER_TRANSACTION = 2000
LEAVERS_PER_TRANSACTION = 200
#: between chunks the lock is left free this long. SQLite's busy handler is not
#: fair: a tap waiting for the lock retries every 100 ms at most (sqliteDefaultBusyCallback),
#: so a purge that took the lock straight back after each commit could keep it
#: out for many chunks (measured: 0.65 s with 20 ms chunks). A pause as long as
#: that retry interval lets it in after at most one chunk.
PAUSE_S = 0.1


def subtract_months(moment: datetime, months: int) -> datetime:
    """``moment`` minus calendar ``months``; the day is clamped (31 March - 1 = 28/29 Feb)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass
class PurgeResult:
    events_before: datetime
    leavers_before: datetime
    commands_before: datetime
    events: int = 0
    pupils: int = 0
    cards: int = 0
    approvals: int = 0
    early_releases: int = 0
    holdings: int = 0
    commands: int = 0
    exceptions: int = 0
    arrangements: int = 0
    scrubbed_events: int = 0
    #: leavers past retention kept because their phone is still recorded in a locker
    kept_with_phone: list[tuple[int, str, str, int]] = field(default_factory=list)
    #: inactive pupils with no leaving date (never purged: no date to count from)
    inactive_without_date: int = 0
    dry_run: bool = False
    event_id: int | None = None

    def counts(self) -> dict[str, int]:
        return {
            "events": self.events,
            "pupils": self.pupils,
            "cards": self.cards,
            "approvals": self.approvals,
            "early_releases": self.early_releases,
            "holdings": self.holdings,
            "commands": self.commands,
            "scrubbed_events": self.scrubbed_events,
            "exceptions": self.exceptions,
            "arrangements": self.arrangements,
        }


def purge(
    session: Session,
    *,
    events_months: int,
    leavers_months: int,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str | None = None,
) -> PurgeResult:
    """Remove what is past retention, committing chunk by chunk; the caller commits the
    final purge event (or rolls back a dry run, which writes nothing).

    * events with ``at`` strictly before ``now`` minus ``events_months`` calendar months;
    * pupils who left (``active`` false, ``left_at`` set) strictly before ``now`` minus
      ``leavers_months``: their cards, approvals, early releases and commands are
      deleted, their remaining events keep what happened but lose the pupil id, the
      card UID and any of their card UIDs quoted in the reason. A leaver whose phone
      is still recorded in a locker is kept (deleting would strand the phone);
    * finished commands whose ``finished_at`` (else ``created_at``) is more than
      30 days ago;
    * pupils' exceptions and staff arrangements that finished (ended early, or past
      their ``until`` day) before the events cut-off; a leaver's exceptions go with
      the leaver.

    ``dry_run`` only counts. Otherwise one :data:`Kind.PURGE` event records the
    counts (no names).
    """
    now = naive_utc(now)
    result = PurgeResult(
        events_before=subtract_months(now, events_months),
        leavers_before=subtract_months(now, leavers_months),
        commands_before=now - timedelta(days=COMMANDS_KEEP_DAYS),
        dry_run=dry_run,
    )
    old_events = select(Event.id).where(Event.at < result.events_before)
    result.events = count_rows(session, old_events)

    leaver_rows = session.execute(
        select(Pupil.id, Pupil.left_at).where(
            Pupil.active.is_(False),
            Pupil.left_at.is_not(None),
            Pupil.left_at < result.leavers_before,
        )
    ).all()
    holdings = {
        h.pupil_id: h
        for h in session.scalars(
            select(Holding).where(Holding.pupil_id.in_([row.id for row in leaver_rows]))
        )
    }
    leavers = []
    for pupil_id, _left in leaver_rows:
        holding = holdings.get(pupil_id)
        if holding is not None:
            result.kept_with_phone.append(
                (pupil_id, session.get(Pupil, pupil_id).name, holding.locker_id, holding.bay)
            )
        else:
            leavers.append(pupil_id)
    result.pupils = len(leavers)
    result.inactive_without_date = count_rows(
        session, select(Pupil.id).where(Pupil.active.is_(False), Pupil.left_at.is_(None))
    )
    result.cards = count_rows(session, select(Card.id).where(Card.pupil_id.in_(leavers)))
    result.approvals = count_rows(
        session, select(Year5Approval.id).where(Year5Approval.pupil_id.in_(leavers))
    )
    result.early_releases = count_rows(
        session, select(EarlyRelease.id).where(EarlyRelease.pupil_id.in_(leavers))
    )
    result.holdings = 0  # leavers with a holding are kept, see kept_with_phone
    their_events = select(Event.id).where(
        Event.pupil_id.in_(leavers), Event.at >= result.events_before
    )
    result.scrubbed_events = count_rows(session, their_events)
    old_commands = (Command.status.in_(FINISHED_COMMANDS)) & (
        func.coalesce(Command.finished_at, Command.created_at) < result.commands_before
    )
    commands_to_go = old_commands | Command.pupil_id.in_(leavers)
    result.commands = count_rows(session, select(Command.id).where(commands_to_go))
    exceptions_to_go = _finished_before(PupilException, result.events_before) | (
        PupilException.pupil_id.in_(leavers))
    result.exceptions = count_rows(session, select(PupilException.id).where(exceptions_to_go))
    arrangements_to_go = _finished_before(StaffArrangement, result.events_before)
    result.arrangements = count_rows(
        session, select(StaffArrangement.id).where(arrangements_to_go))

    if dry_run:
        return result

    while _delete_old_events(session, result.events_before):
        session.commit()
        time.sleep(PAUSE_S)
    for first in range(0, len(leavers), LEAVERS_PER_TRANSACTION):
        _remove_leavers(
            session, leavers[first:first + LEAVERS_PER_TRANSACTION], result.leavers_before
        )
        session.commit()
        time.sleep(PAUSE_S)
    _start_write(session)
    session.execute(delete(Command).where(old_commands))
    session.execute(delete(PupilException).where(exceptions_to_go))
    session.execute(delete(StaffArrangement).where(arrangements_to_go))
    counts = " ".join(f"{key}={value}" for key, value in result.counts().items())
    event = record_event(
        session,
        Kind.PURGE,
        at=now,
        actor=actor,
        reason=(
            f"{counts}; events before {result.events_before:%Y-%m-%d %H:%M}, "
            f"leavers who left before {result.leavers_before:%Y-%m-%d %H:%M} (UTC)"
            + (f"; {len(result.kept_with_phone)} leaver(s) kept: phone in a locker"
               if result.kept_with_phone else "")
        ),
    )
    result.event_id = event.id
    session.expire_all()
    return result


def _finished_before(model, cutoff: datetime):
    """Register rows (exceptions, arrangements) over before ``cutoff``: ended early
    before it, or whose last day ``until`` was before its day."""
    return (model.ended_at < cutoff) | (model.until < cutoff.date())


def _start_write(session: Session) -> None:
    """Begin one of the purge's short write transactions, holding the lock from the start."""
    if session.get_bind().dialect.name == "sqlite":
        # Overwrite deleted content instead of leaving it in free pages.
        session.execute(text("PRAGMA secure_delete=ON"))
    begin_write(session)


def _delete_old_events(session: Session, before: datetime) -> int:
    """Delete the oldest :data:`EVENTS_PER_TRANSACTION` events before ``before``; how many.

    A chunk is "``at`` before the cut-off and ``id`` up to the chunk's last id",
    so each transaction is short and a re-run after an interruption simply
    carries on. Holdings that point at a deleted event lose the pointer first.
    """
    _start_write(session)
    old = Event.at < before
    last = session.scalar(
        select(Event.id).where(old).order_by(Event.id)
        .offset(EVENTS_PER_TRANSACTION - 1).limit(1)
    )
    chunk = old if last is None else old & (Event.id <= last)
    session.execute(
        update(Holding).where(Holding.event_id.in_(select(Event.id).where(chunk)))
        .values(event_id=None)
    )
    return session.execute(delete(Event).where(chunk)).rowcount


def _remove_leavers(session: Session, leavers: list[int], before: datetime) -> None:
    """Delete these leavers and what is theirs, and anonymise their remaining events.

    One transaction per chunk of leavers: a leaver is either fully removed or
    untouched, so an interrupted purge leaves nothing half-done for them.
    Under the write lock the chunk is checked again: a pupil brought back, or
    whose phone was handed in, since the count is left alone.
    """
    _start_write(session)
    leavers = list(session.scalars(
        select(Pupil.id).where(
            Pupil.id.in_(leavers), Pupil.active.is_(False), Pupil.left_at < before,
            ~select(Holding.pupil_id).where(Holding.pupil_id == Pupil.id).exists(),
        )
    ))
    if not leavers:
        return
    uids = sorted(set(session.scalars(select(Card.uid).where(Card.pupil_id.in_(leavers)))))
    if uids:
        for event in session.scalars(
            select(Event).where(Event.pupil_id.in_(leavers), Event.reason.is_not(None))
        ):
            reason = event.reason
            for uid in uids:
                reason = reason.replace(uid, "[card]")
            event.reason = reason
        session.flush()
    session.execute(
        update(Event)
        .where(Event.pupil_id.in_(leavers))
        .values(pupil_id=None, card_uid=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(Command).where(Command.pupil_id.in_(leavers)))
    session.execute(delete(PupilException).where(PupilException.pupil_id.in_(leavers)))
    session.execute(delete(Card).where(Card.pupil_id.in_(leavers)))
    session.execute(delete(Year5Approval).where(Year5Approval.pupil_id.in_(leavers)))
    session.execute(delete(EarlyRelease).where(EarlyRelease.pupil_id.in_(leavers)))
    session.execute(delete(Pupil).where(Pupil.id.in_(leavers)))


def checkpoint(session: Session) -> bool:
    """Best effort: fold the WAL into the database file and truncate it (SQLite only).

    A TRUNCATE checkpoint holds the write lock while it copies, so a passive one
    (which never blocks a writer) copies the purge's many pages first; the
    TRUNCATE then has only the last few frames left and the kiosk barely waits.
    """
    if session.get_bind().dialect.name != "sqlite":
        return True
    session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    row = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
    return row is not None and row[0] == 0
