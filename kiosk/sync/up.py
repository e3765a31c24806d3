"""Up: what this kiosk recorded goes to the central database, exactly once.

One cycle reads a consistent snapshot of the kiosk's database (the events after
the cursor, this locker's holdings, its heartbeat, finished commands), writes
it to the central database in one transaction, and only then moves the local
cursor. A crash between the two re-sends events the central database already
has; their ``uid`` is already there, so they are skipped: exactly once is a
property of the data. Events go up in the order they were recorded.

While an event is written centrally it is checked against what the central
database knew (:func:`conflicts_for`): a card cancelled centrally but used at
the locker while it was offline, a pupil who had left, a phone recorded in two
lockers. Each becomes a ``sync_conflict`` event for the office; the kiosk's
event is stored as it happened either way (no event is lost).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, func, select

from kiosk.store.events import Kind, new_event_uid
from kiosk.store.models import Bay, Card, Command, Event, Holding, KioskStatus, Locker, Pupil
from kiosk.sync import state
from kiosk.sync.mirror import local_snapshot, local_write

#: events sent in one central transaction (a 10,000-event catch-up is five of them)
BATCH = 2000
#: the kinds of event the office writes centrally that end a holding at a locker
OFFICE_ENDS = (Kind.OFFICE_RETURN.value, Kind.KEPT_IN_OFFICE.value)
TAP_KINDS = (Kind.DEPOSIT.value, Kind.COLLECT.value, Kind.REOPEN.value)
FINISHED = ("done", "failed", "expired")

_events = Event.__table__
_holdings = Holding.__table__
_commands = Command.__table__
_status = KioskStatus.__table__
EVENT_COLUMNS = ("uid", "at", "kind", "pupil_id", "card_uid", "locker_id", "bay", "actor",
                 "reason", "clock_suspect", "details")


@dataclass
class Snapshot:
    """One moment of the kiosk's database, as much as one cycle sends."""

    cursor: int
    events: list[dict]
    #: this locker's holdings (pupil_id, bay, since, event_uid); None unless ``caught_up``
    holdings: list[dict] | None
    status: dict | None
    results: list[dict]
    #: events still waiting after this batch
    pending_after: int
    caught_up: bool

    @property
    def last_id(self) -> int:
        return self.events[-1]["id"] if self.events else self.cursor


@dataclass
class Sent:
    """What one :func:`send` stored centrally."""

    events: int = 0
    skipped: int = 0
    conflicts: list[str] = field(default_factory=list)


def give_uids(engine: Engine, cursor: int) -> None:
    """Give every event after ``cursor`` that has none its cross-locker ``uid``.

    Taps are recorded without one (the tap path stays as it is); the uid is
    fixed here, once, before the event is first sent, so every retry sends the
    same id.
    """
    with local_write(engine) as local:
        ids = local.execute(
            select(_events.c.id).where(_events.c.id > cursor, _events.c.uid.is_(None))
        ).scalars().all()
        if ids:
            local.execute(
                _events.update().where(_events.c.id == bindparam("_id")).values(
                    uid=bindparam("new_uid")
                ),
                [{"_id": event_id, "new_uid": uuid.uuid4().hex} for event_id in ids],
            )


def pending_count(local: Connection, cursor: int) -> int:
    return local.execute(select(func.count()).where(_events.c.id > cursor)).scalar_one()


def take_snapshot(engine: Engine, locker_id: str, *, batch: int = BATCH) -> Snapshot:
    """Read what to send, all from one moment of the kiosk's database."""
    with local_snapshot(engine) as local:
        cursor = state.read_int(local, state.SENT_EVENT_ID)
        events = [
            dict(row._mapping)
            for row in local.execute(
                select(_events).where(_events.c.id > cursor).order_by(_events.c.id).limit(batch)
            )
        ]
        pending = pending_count(local, cursor)
        caught_up = pending <= len(events)
        holdings = None
        if caught_up:
            holdings = [
                dict(row._mapping)
                for row in local.execute(
                    select(_holdings.c.pupil_id, _holdings.c.bay, _holdings.c.since,
                           _events.c.uid.label("event_uid"))
                    .outerjoin(_events, _events.c.id == _holdings.c.event_id)
                    .where(_holdings.c.locker_id == locker_id)
                )
            ]
        status = local.execute(select(_status).where(_status.c.locker_id == locker_id)).first()
        results = [
            dict(row._mapping)
            for row in local.execute(
                select(_commands.c.id, _commands.c.central_id, _commands.c.status,
                       _commands.c.result, _commands.c.finished_at, _commands.c.card_uid)
                .where(_commands.c.central_id.is_not(None), _commands.c.synced_at.is_(None),
                       _commands.c.status.in_(FINISHED))
            )
        ]
    return Snapshot(
        cursor=cursor, events=events, holdings=holdings,
        status=dict(status._mapping) if status is not None else None, results=results,
        pending_after=pending - len(events), caught_up=caught_up,
    )


def register_locker(central: Connection, locker_id: str, name: str,
                    bays: Sequence[int]) -> None:
    """Make this locker and its bays known centrally (the dashboard lists them)."""
    lockers, bay_table = Locker.__table__, Bay.__table__
    exists = central.execute(select(lockers.c.name).where(lockers.c.id == locker_id)).first()
    if exists is None:
        central.execute(lockers.insert().values(id=locker_id, name=name))
    elif exists.name != name:
        central.execute(lockers.update().where(lockers.c.id == locker_id).values(name=name))
    have = set(central.execute(
        select(bay_table.c.number).where(bay_table.c.locker_id == locker_id)
    ).scalars())
    missing = [{"locker_id": locker_id, "number": n} for n in bays if n not in have]
    if missing:
        central.execute(bay_table.insert(), missing)


def _local_time(at: datetime, zone: ZoneInfo) -> str:
    from kiosk.timeutil import as_aware

    return f"{as_aware(at).astimezone(zone):%H:%M} on {as_aware(at).astimezone(zone):%d %b}"


def conflicts_for(central: Connection, events: list[dict], locker_id: str,
                  zone: ZoneInfo) -> list[tuple[dict, str]]:
    """(event, what disagrees) for each tap the central database would not have allowed."""
    taps = [e for e in events if e["kind"] in TAP_KINDS and e["pupil_id"] is not None]
    if not taps:
        return []
    pupil_ids = {e["pupil_id"] for e in taps}
    uids = {e["card_uid"] for e in taps if e["card_uid"]}
    cards = Card.__table__
    card_rows: dict[tuple[str, int], list] = {}
    for row in central.execute(
        select(cards.c.uid, cards.c.pupil_id, cards.c.active, cards.c.revoked_at)
        .where(cards.c.uid.in_(uids))
    ):
        card_rows.setdefault((row.uid, row.pupil_id), []).append(row)
    pupils = Pupil.__table__
    left = dict(central.execute(
        select(pupils.c.id, pupils.c.left_at).where(
            pupils.c.id.in_(pupil_ids), pupils.c.active.is_(False)
        )
    ).all())
    elsewhere = dict(central.execute(
        select(_holdings.c.pupil_id, _holdings.c.locker_id).where(
            _holdings.c.pupil_id.in_(pupil_ids), _holdings.c.locker_id != locker_id
        )
    ).all())
    found = []
    for event in taps:
        when = _local_time(event["at"], zone)
        rows = card_rows.get((event["card_uid"], event["pupil_id"]), [])
        revoked = [r for r in rows if not r.active and r.revoked_at is not None
                   and r.revoked_at <= event["at"]]
        if rows and not any(r.active for r in rows) and revoked:
            cancelled = _local_time(max(r.revoked_at for r in revoked), zone)
            found.append((event, f"card {event['card_uid']} was cancelled at {cancelled} "
                                 f"but used at {locker_id} at {when} (offline)"))
        if event["pupil_id"] in left:
            found.append((event, f"a pupil no longer on the roll used their card at "
                                 f"{locker_id} at {when} (offline)"))
        if event["kind"] == Kind.DEPOSIT.value and event["pupil_id"] in elsewhere:
            found.append((event, f"phone handed in at {locker_id} at {when} while recorded "
                                 f"in locker {elsewhere[event['pupil_id']]} too"))
    return found


def _apply_enrolments(central: Connection, events: list[dict], locker_id: str,
                      zone: ZoneInfo) -> list[tuple[dict, str]]:
    """A card enrolled at this locker becomes the pupil's card centrally too."""
    cards = Card.__table__
    problems = []
    for event in events:
        if event["kind"] != Kind.ENROL.value or not event["card_uid"] or not event["pupil_id"]:
            continue
        active = central.execute(
            select(cards.c.pupil_id).where(cards.c.uid == event["card_uid"], cards.c.active)
        ).first()
        if active is not None:
            if active.pupil_id != event["pupil_id"]:
                problems.append((event, f"card {event['card_uid']} enrolled at {locker_id} at "
                                        f"{_local_time(event['at'], zone)} is another pupil's "
                                        "card centrally: not assigned"))
            continue
        central.execute(
            cards.update().where(cards.c.pupil_id == event["pupil_id"], cards.c.active)
            .values(active=False, revoked_at=event["at"])
        )
        central.execute(cards.insert().values(
            uid=event["card_uid"], pupil_id=event["pupil_id"], active=True, issued_at=event["at"]
        ))
    return problems


def _replace_holdings(central: Connection, snapshot: Snapshot, locker_id: str,
                      seen_central_event: int, known_pupils: set[int]) -> None:
    """Make the central holdings of this locker the kiosk's, as of the snapshot.

    A hand-back the office recorded centrally that the kiosk has not read yet
    (after ``seen_central_event``) wins: that phone is not put back.
    """
    assert snapshot.holdings is not None
    ended = set(central.execute(
        select(_events.c.pupil_id).where(
            _events.c.id > seen_central_event, _events.c.locker_id == locker_id,
            _events.c.kind.in_(OFFICE_ENDS),
        )
    ).scalars())
    current = {
        row.pupil_id: (row.bay, row.since)
        for row in central.execute(
            select(_holdings.c.pupil_id, _holdings.c.bay, _holdings.c.since)
            .where(_holdings.c.locker_id == locker_id)
        )
    }
    wanted = {
        h["pupil_id"]: h for h in snapshot.holdings
        if h["pupil_id"] in known_pupils and h["pupil_id"] not in ended
    }
    elsewhere = set(central.execute(
        select(_holdings.c.pupil_id).where(
            _holdings.c.pupil_id.in_(list(wanted)), _holdings.c.locker_id != locker_id
        )
    ).scalars()) if wanted else set()
    stale = [pid for pid, held in current.items()
             if pid not in wanted or (wanted[pid]["bay"], wanted[pid]["since"]) != held]
    if stale:
        central.execute(_holdings.delete().where(
            _holdings.c.locker_id == locker_id, _holdings.c.pupil_id.in_(stale)
        ))
    new = [h for pid, h in wanted.items()
           if pid not in elsewhere and (pid not in current or pid in stale)]
    for holding in new:
        event_id = None
        if holding["event_uid"]:
            event_id = central.execute(
                select(_events.c.id).where(_events.c.uid == holding["event_uid"])
            ).scalar()
        central.execute(_holdings.insert().values(
            pupil_id=holding["pupil_id"], locker_id=locker_id, bay=holding["bay"],
            since=holding["since"], event_id=event_id,
        ))


def _push_status(central: Connection, snapshot: Snapshot, locker_id: str,
                 now: datetime) -> None:
    row = dict(snapshot.status or {"locker_id": locker_id, "updated_at": now})
    row.update(last_sync_at=now, pending_events=snapshot.pending_after, offline_since=None,
               sync_error=None)
    updated = central.execute(
        _status.update().where(_status.c.locker_id == locker_id)
        .values({k: v for k, v in row.items() if k != "locker_id"})
    )
    if updated.rowcount == 0:
        central.execute(_status.insert().values(row))


def send(central: Connection, snapshot: Snapshot, *, locker_id: str, zone: ZoneInfo,
         seen_central_event: int, now: datetime) -> Sent:
    """Write ``snapshot`` to the central database (the caller's transaction)."""
    sent = Sent()
    events = snapshot.events
    if events:
        present = set(central.execute(
            select(_events.c.uid).where(_events.c.uid.in_([e["uid"] for e in events]))
        ).scalars())
        new = [e for e in events if e["uid"] not in present]
        sent.skipped = len(events) - len(new)
        pupil_ids = {e["pupil_id"] for e in new if e["pupil_id"] is not None}
        known = set(central.execute(
            select(Pupil.__table__.c.id).where(Pupil.__table__.c.id.in_(pupil_ids))
        ).scalars()) if pupil_ids else set()
        rows = []
        for event in new:
            row = {column: event[column] for column in EVENT_COLUMNS}
            if row["pupil_id"] is not None and row["pupil_id"] not in known:
                row["pupil_id"] = None  # removed from the roll centrally meanwhile
            rows.append(row)
        found = conflicts_for(central, new, locker_id, zone)
        if rows:
            central.execute(_events.insert(), rows)
        found += _apply_enrolments(central, new, locker_id, zone)
        for event, what in found:
            central.execute(_events.insert().values(
                uid=new_event_uid(), at=now, kind=Kind.SYNC_CONFLICT.value,
                pupil_id=event["pupil_id"] if event["pupil_id"] in known else None,
                card_uid=event["card_uid"], locker_id=locker_id, bay=event["bay"],
                actor=f"sync ({locker_id})", reason=what, clock_suspect=False,
                details=json.dumps({"event_uid": event["uid"], "kind": event["kind"]}),
            ))
            sent.conflicts.append(what)
        sent.events = len(rows)
    if snapshot.holdings is not None:
        held = {h["pupil_id"] for h in snapshot.holdings}
        known_holders = set(central.execute(
            select(Pupil.__table__.c.id).where(Pupil.__table__.c.id.in_(held))
        ).scalars()) if held else set()
        _replace_holdings(central, snapshot, locker_id, seen_central_event, known_holders)
    for result in snapshot.results:
        central.execute(
            _commands.update().where(_commands.c.id == result["central_id"]).values(
                status=result["status"], result=result["result"],
                finished_at=result["finished_at"], card_uid=result["card_uid"],
            )
        )
    _push_status(central, snapshot, locker_id, now)
    return sent


def confirm(engine: Engine, snapshot: Snapshot, now: datetime) -> None:
    """After the central commit: move the cursor and mark the results sent."""
    if not snapshot.events and not snapshot.results:
        return  # a heartbeat only: nothing to note here (no write, no lock)
    with local_write(engine) as local:
        if snapshot.events:
            state.write(local, state.SENT_EVENT_ID, snapshot.last_id, now)
        if snapshot.results:
            local.execute(
                _commands.update().where(_commands.c.id.in_([r["id"] for r in snapshot.results]))
                .values(synced_at=now)
            )
