"""Down: what the office wrote centrally reaches this kiosk.

- :func:`poll`: one small read says what changed (the change counters the
  database's triggers keep, and the newest event id);
- :func:`kiosk.sync.mirror.mirror` copies the roll tables that changed;
- :func:`pull_commands`: the commands for this locker, claimed centrally so
  that exactly one kiosk carries each out, copied here as ``pending``;
- :func:`pull_office_ends`: a phone the office handed back from this locker
  ends its holding here too;
- :func:`pull_other_holdings`: which phones are in the *other* lockers, so a
  pupil is told "Your phone is in the 6K locker" instead of handing in twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import OperationalError

from kiosk.school.commands import STALE_SECONDS
from kiosk.store.events import Kind, new_event_uid
from kiosk.store.models import Command, Event, Holding, Pupil
from kiosk.store.prepared import Prepared
from kiosk.sync import state
from kiosk.sync.mirror import local_write
from kiosk.sync.up import OFFICE_ENDS

_events = Event.__table__
_holdings = Holding.__table__
_commands = Command.__table__
#: the key :func:`poll` reports the newest central event id under
EVENTS = "events"

# Asked every poll by every kiosk: plain SQL on the DBAPI cursor, prepared once per
# dialect (kiosk/store/prepared.py), so an idle kiosk costs the database's time only.
POLL_SQL = text(
    "SELECT name, version FROM change_counters"
    " UNION ALL SELECT 'events', COALESCE(max(id), 0) FROM events"
)
_prepared: dict[str, Prepared] = {}


def poll(central: Connection) -> dict[str, int]:
    """The central change counters and newest event id: one round trip.

    Ends the central transaction it ran in (so a PostgreSQL connection is not
    left "idle in transaction" between polls).
    """
    dialect = central.dialect
    prepared = _prepared.get(dialect.name)
    if prepared is None:
        prepared = _prepared[dialect.name] = Prepared(POLL_SQL, dialect)
    dbapi = central.connection.dbapi_connection
    cursor = dbapi.cursor()
    try:
        rows = prepared.execute(cursor, {}).fetchall()
        cursor.close()
        dbapi.rollback()
    except Exception as error:
        # as SQLAlchemy would have raised it, so the worker sees one kind of failure
        raise OperationalError(prepared.sql, None, error) from error
    return {name: int(version) for name, version in rows}


def pull_commands(central: Connection, engine: Engine, locker_id: str, now: datetime) -> int:
    """Claim this locker's pending commands centrally and queue them here.

    A command older than the kiosk's STALE_SECONDS (asked while this kiosk was
    unreachable) is expired centrally, as a kiosk that had been stopped expires
    its own. The local copy is written first with status ``held``; only a
    successful central claim makes it ``pending`` (the daemon then carries it
    out), so a crash or a lost race never runs a command twice. Commits the
    central transaction. Returns how many commands were queued.
    """
    mine = (_commands.c.locker_id == locker_id) | _commands.c.locker_id.is_(None)
    pending = central.execute(
        select(_commands).where(_commands.c.status == "pending", mine).order_by(_commands.c.id)
    ).all()
    if not pending:
        return 0
    horizon = now - timedelta(seconds=STALE_SECONDS)
    live = []
    for command in pending:
        if command.created_at < horizon:
            claimed = central.execute(
                _commands.update().where(_commands.c.id == command.id,
                                         _commands.c.status == "pending")
                .values(status="expired", finished_at=now,
                        result=f"locker {locker_id} was offline when this was asked")
            ).rowcount
            if claimed:
                central.execute(insert(_events).values(
                    uid=new_event_uid(), at=now, kind=Kind.COMMAND_EXPIRED.value,
                    locker_id=locker_id, bay=command.bay, pupil_id=command.pupil_id,
                    actor=command.actor, clock_suspect=False,
                    reason=f"{command.kind} asked at {command.created_at:%H:%M:%S} UTC not "
                           "carried out (kiosk offline)",
                ))
        else:
            live.append(command)
    if not live:
        return 0
    columns = ("kind", "bay", "seconds", "pupil_id", "actor", "reason", "created_at")
    with local_write(engine) as local:
        have = set(local.execute(
            select(_commands.c.central_id).where(_commands.c.central_id.in_([c.id for c in live]))
        ).scalars())
        for command in live:
            if command.id not in have:
                local.execute(_commands.insert().values(
                    central_id=command.id, locker_id=locker_id, status="held",
                    **{column: getattr(command, column) for column in columns},
                ))
    queued = []
    for command in live:
        claimed = central.execute(
            _commands.update().where(_commands.c.id == command.id,
                                     _commands.c.status == "pending")
            .values(status="running", locker_id=locker_id,
                    result=f"taken by the kiosk of locker {locker_id}")
        ).rowcount
        if claimed:
            queued.append(command.id)
    central.commit()
    with local_write(engine) as local:
        if queued:
            local.execute(_commands.update().where(
                _commands.c.central_id.in_(queued), _commands.c.status == "held"
            ).values(status="pending"))
        lost = [c.id for c in live if c.id not in queued]
        if lost:  # another kiosk took it (a command for any locker)
            local.execute(_commands.delete().where(
                _commands.c.central_id.in_(lost), _commands.c.status == "held"
            ))
    return len(queued)


def release_held(central: Connection, engine: Engine) -> None:
    """Finish what a crash interrupted: a local ``held`` copy whose central claim
    committed becomes ``pending``; one whose claim never happened is dropped (the
    next :func:`pull_commands` copies it again)."""
    with local_write(engine) as local:
        held = local.execute(
            select(_commands.c.id, _commands.c.central_id).where(_commands.c.status == "held")
        ).all()
        if not held:
            return
        running = set(central.execute(
            select(_commands.c.id).where(
                _commands.c.id.in_([h.central_id for h in held]), _commands.c.status == "running"
            )
        ).scalars())
        for row in held:
            if row.central_id in running:
                local.execute(_commands.update().where(_commands.c.id == row.id)
                              .values(status="pending"))
            else:
                local.execute(_commands.delete().where(_commands.c.id == row.id))


def pull_office_ends(central: Connection, engine: Engine, locker_id: str,
                     seen: int, newest: int, now: datetime) -> int:
    """Apply the office's hand-backs from this locker recorded centrally after ``seen``.

    The event is copied here (same uid, so sending it back up stores nothing)
    and the holding it ended ends here, unless the pupil handed in again later.
    Returns how many were applied; the cursor moves to ``newest``.
    """
    rows = central.execute(
        select(_events).where(
            _events.c.id > seen, _events.c.id <= newest, _events.c.locker_id == locker_id,
            _events.c.kind.in_(OFFICE_ENDS),
        ).order_by(_events.c.id)
    ).all()
    applied = 0
    with local_write(engine) as local:
        for row in rows:
            if row.uid is None:
                continue
            if local.execute(select(_events.c.id).where(_events.c.uid == row.uid)).first():
                continue
            values = {c: getattr(row, c) for c in (
                "uid", "at", "kind", "pupil_id", "card_uid", "locker_id", "bay", "actor",
                "reason", "clock_suspect", "details")}
            local.execute(_events.insert().values(values))
            if row.pupil_id is not None:
                local.execute(_holdings.delete().where(
                    _holdings.c.pupil_id == row.pupil_id, _holdings.c.locker_id == locker_id,
                    _holdings.c.since <= row.at,
                ))
            applied += 1
        state.write(local, state.SEEN_CENTRAL_EVENT_ID, newest, now)
    return applied


def pull_other_holdings(central: Connection, engine: Engine, locker_id: str) -> int:
    """Copy which phones are in the other lockers; returns how many rows changed here.

    A pupil with a holding at *this* locker keeps it: what this locker knows
    about its own bays wins, and any disagreement is flagged when it is sent up.
    """
    def others(connection: Connection) -> dict[int, tuple]:
        return {
            row.pupil_id: (row.locker_id, row.bay, row.since)
            for row in connection.execute(
                select(_holdings.c.pupil_id, _holdings.c.locker_id, _holdings.c.bay,
                       _holdings.c.since).where(_holdings.c.locker_id != locker_id)
            )
        }

    theirs = others(central)
    with local_write(engine) as local:
        here = others(local)
        mine = set(local.execute(
            select(_holdings.c.pupil_id).where(_holdings.c.locker_id == locker_id)
        ).scalars())
        gone = [pid for pid, held in here.items() if theirs.get(pid) != held]
        if gone:
            local.execute(_holdings.delete().where(_holdings.c.pupil_id.in_(gone),
                                                   _holdings.c.locker_id != locker_id))
        pupils = set(local.execute(select(Pupil.__table__.c.id)).scalars())
        new = [
            {"pupil_id": pid, "locker_id": held[0], "bay": held[1], "since": held[2]}
            for pid, held in theirs.items()
            if (pid not in here or pid in gone) and pid not in mine and pid in pupils
        ]
        if new:
            local.execute(_holdings.insert(), new)
    return len(gone) + len(new)

