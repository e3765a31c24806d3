"""Finding the occasions for notices in the database, and who hears of each.

Each ``find_*`` function reads the database at ``now`` (aware; the caller's
clock) and returns :class:`~kiosk.notify.outbox.Queued` items; queueing them
twice is harmless (the outbox's UNIQUE key). State that must survive between
runs (the events cursor, an open fault) is kept in ``notify_state``.

"School day": a day :func:`is_closed` does not close, in the school's zone
(``[policy] timezone``). Nothing is queued on a closed day; a forced door or
an emergency unlock on a closed day is reported on the next open day, and a
recovery after a reported fault is reported when the school day starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.calendar.days import school_day_on
from kiosk.config import Config, NotifyConfig
from kiosk.notify import compose
from kiosk.notify.compose import HeldPhone, Message, Reader
from kiosk.notify.outbox import Queued
from kiosk.policy import collection_time
from kiosk.school.heartbeats import heartbeat_fresh
from kiosk.school.queries import day_bounds_utc
from kiosk.store.events import Kind
from kiosk.store.models import Event, Holding, KioskStatus, Locker, NotifyState, Pupil, StaffUser
from kiosk.timeutil import naive_utc

#: a fault must last this long, within the school day, before IT is told
FAULT_AFTER = timedelta(minutes=5)
#: events older than this are not reported when notify runs for the first time
FIRST_RUN_LOOKBACK = timedelta(minutes=15)
CURSOR_KEY = "events_cursor"
ALARM_KINDS = (Kind.FORCED_DOOR.value, Kind.OVERRIDE.value)


def is_closed(session: Session, day: date) -> bool:
    """Whether the school is closed on ``day`` (local): Saturday, Sunday, or a day the
    school calendar marks closed (holidays, INSET days, a snow day)."""
    if day.weekday() >= 5:
        return True
    entry = school_day_on(session, day)
    return entry is not None and entry.closed


def collection_time_on(session: Session, config: Config, day: date) -> time:
    """The day's collection time: the calendar's when it sets one (an early finish,
    closing early), else ``[policy]``'s for that weekday."""
    return collection_time(config.policy, day, school_day_on(session, day))


# --- who hears --------------------------------------------------------------------


def _merge(readers: dict[str, Reader], address: str, classes: frozenset[str] | None) -> None:
    """One reader per address (any case): the office's view wins over a teacher's."""
    key = address.casefold()
    old = readers.get(key)
    if old is None:
        readers[key] = Reader(address, classes)
    elif old.classes is not None:
        wider = None if classes is None else old.classes | classes
        readers[key] = Reader(old.address, wider)


def office_readers(notify: NotifyConfig, *, with_it: bool = False) -> list[Reader]:
    readers: dict[str, Reader] = {}
    for address in notify.office + (notify.it if with_it else ()):
        _merge(readers, address, None)
    return list(readers.values())


def class_readers(session: Session, notify: NotifyConfig) -> list[Reader]:
    """The office (every class) and each active teacher with an address (their classes)."""
    readers: dict[str, Reader] = {}
    for address in notify.office:
        _merge(readers, address, None)
    teachers = session.scalars(
        select(StaffUser).where(
            StaffUser.active, StaffUser.role == "teacher", StaffUser.email.is_not(None)
        ).order_by(StaffUser.id)
    )
    for teacher in teachers:
        classes = frozenset(c.class_name for c in teacher.classes)
        if classes:
            _merge(readers, teacher.email, classes)
    return list(readers.values())


def _items(kind: str, occasion: str, messages: Iterable[tuple[Reader, Message | None]]):
    return [
        Queued(kind, occasion, reader.address, message.subject, message.body)
        for reader, message in messages
        if message is not None
    ]


# --- phones --------------------------------------------------------------------------


def _local(moment: datetime, config: Config) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(config.policy.zone)


def held_phones(session: Session, config: Config, before: datetime) -> list[HeldPhone]:
    """Phones in a locker since before ``before`` (naive UTC), with pupil and locker."""
    rows = session.execute(
        select(Holding, Pupil.name, Pupil.class_name, Locker.name)
        .join(Pupil, Pupil.id == Holding.pupil_id)
        .outerjoin(Locker, Locker.id == Holding.locker_id)
        .where(Holding.since < before)
        .order_by(Pupil.class_name, Pupil.name)
    ).all()
    return [
        HeldPhone(name, class_name, _local(holding.since, config),
                  locker_name or holding.locker_id, holding.bay)
        for holding, name, class_name, locker_name in rows
    ]


def find_not_collected(session: Session, config: Config, now: datetime) -> list[Queued]:
    """Today, ``not_collected_after_minutes`` after collection time: phones still held."""
    notify = config.notify
    local_now = now.astimezone(config.policy.zone)
    today = local_now.date()
    if notify is None or is_closed(session, today):
        return []
    collect_from = collection_time_on(session, config, today)
    deadline = datetime.combine(today, collect_from, tzinfo=config.policy.zone)
    if now < deadline + timedelta(minutes=notify.not_collected_after_minutes):
        return []
    phones = held_phones(session, config, naive_utc(deadline))
    if not phones:
        return []
    minutes = notify.not_collected_after_minutes
    return _items("not_collected", today.isoformat(), (
        (reader, compose.not_collected(reader, phones, day=today, collect_from=collect_from,
                                       minutes=minutes))
        for reader in class_readers(session, notify)
    ))


def find_overnight(session: Session, config: Config, now: datetime) -> list[Queued]:
    """From midnight until collection time: phones held since before today, to the office.

    ``notify`` runs every minute, so the office has this soon after midnight,
    long before 8:00; a ``notify`` that was down then still tells them later.
    """
    notify = config.notify
    local_now = now.astimezone(config.policy.zone)
    today = local_now.date()
    if notify is None or is_closed(session, today):
        return []
    if local_now.time() >= collection_time_on(session, config, today):
        return []
    start, _end = day_bounds_utc(today, config)
    phones = held_phones(session, config, start)
    if not phones:
        return []
    return _items("overnight", today.isoformat(), (
        (reader, compose.overnight(reader, phones, day=today))
        for reader in office_readers(notify)
    ))


# --- kiosk offline, reader fault --------------------------------------------------------


def _state(session: Session, key: str) -> dict | None:
    row = session.get(NotifyState, key)
    return json.loads(row.value) if row is not None else None


def _set_state(session: Session, key: str, value: dict | None, now: datetime) -> None:
    row = session.get(NotifyState, key)
    if value is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(NotifyState(key=key, value=json.dumps(value), updated_at=naive_utc(now)))
    else:
        row.value = json.dumps(value)
        row.updated_at = naive_utc(now)
    session.flush()


def _fault(session: Session, config: Config, status: KioskStatus, now: datetime):
    """(what, since as naive UTC) if the kiosk is offline or its reader faulty, else None."""
    now_utc = naive_utc(now)
    if not heartbeat_fresh(status, now_utc, config.web.offline_after_seconds):
        return "offline", status.stopped_at or status.updated_at
    if not status.reader_ok:
        since = session.scalar(
            select(func.max(Event.at)).where(
                Event.kind == Kind.READER_FAULT.value, Event.locker_id == status.locker_id
            )
        )
        return "reader", min(since or now_utc, now_utc)
    return None


def find_faults(session: Session, config: Config, now: datetime) -> list[Queued]:
    """A fault over :data:`FAULT_AFTER` of the school day -> IT and office; then its recovery."""
    notify = config.notify
    if notify is None:
        return []
    zone = config.policy.zone
    local_now = now.astimezone(zone)
    today = local_now.date()
    in_day = (
        not is_closed(session, today)
        and notify.day_starts <= local_now.time() < notify.day_ends
    )
    day_start = datetime.combine(today, notify.day_starts, tzinfo=zone)
    names = dict(session.execute(select(Locker.id, Locker.name)).all())
    items: list[Queued] = []
    for status in session.scalars(select(KioskStatus).order_by(KioskStatus.locker_id)):
        key = f"fault:{status.locker_id}"
        state = _state(session, key)
        name = names.get(status.locker_id, status.locker_id)
        found = _fault(session, config, status, now)
        if found is not None:
            what, since = found
            if state is None:
                state = {"what": what, "since": since.isoformat(), "notified": False}
                _set_state(session, key, state, now)
            since_aware = datetime.fromisoformat(state["since"]).replace(tzinfo=UTC)
            counted_from = max(since_aware, day_start)
            if not state["notified"] and in_day and now - counted_from >= FAULT_AFTER:
                message = compose.fault(name, state["what"], since_aware.astimezone(zone))
                occasion = f"{status.locker_id} {state['since']}"
                items += _items("fault", occasion, (
                    (reader, message) for reader in office_readers(notify, with_it=True)
                ))
                state["notified"] = True
                _set_state(session, key, state, now)
        elif state is not None:
            if not state["notified"]:
                _set_state(session, key, None, now)  # a short blip: nobody was told
            elif in_day:
                since_aware = datetime.fromisoformat(state["since"]).replace(tzinfo=UTC)
                message = compose.recovered(name, state["what"], since_aware.astimezone(zone),
                                            local_now)
                occasion = f"{status.locker_id} {state['since']}"
                items += _items("recovered", occasion, (
                    (reader, message) for reader in office_readers(notify, with_it=True)
                ))
                _set_state(session, key, None, now)
    return items


# --- forced doors, emergency unlocks ---------------------------------------------------------


def find_alarms(session: Session, config: Config, now: datetime) -> list[Queued]:
    """Forced doors and emergency unlocks recorded since the last run -> the office at once."""
    notify = config.notify
    local_now = now.astimezone(config.policy.zone)
    if notify is None or is_closed(session, local_now.date()):
        return []  # the cursor stays: the next open day reports them
    cursor = _state(session, CURSOR_KEY)
    # Read before the query, so an event recorded meanwhile is found next run.
    newest = session.scalar(select(func.max(Event.id))) or 0
    query = select(Event).where(Event.kind.in_(ALARM_KINDS)).order_by(Event.id)
    if cursor is None:
        query = query.where(Event.at >= naive_utc(now - FIRST_RUN_LOOKBACK))
    else:
        query = query.where(Event.id > cursor["id"])
    events = list(session.scalars(query))
    last = max([newest if cursor is None else cursor["id"]] + [e.id for e in events])
    _set_state(session, CURSOR_KEY, {"id": last}, now)
    names = dict(session.execute(select(Locker.id, Locker.name)).all())
    items: list[Queued] = []
    readers = office_readers(notify)
    for event in events:
        message = compose.alarm(
            event.kind, locker_name=names.get(event.locker_id, event.locker_id or "a locker"),
            bay=event.bay, at=_local(event.at, config), actor=event.actor, reason=event.reason,
        )
        items += _items("alarm", str(event.id), ((reader, message) for reader in readers))
    return items


FINDERS = (find_alarms, find_faults, find_not_collected, find_overnight)


def find_all(session: Session, config: Config, now: datetime) -> list[Queued]:
    """Every notice due at ``now`` (``now`` aware), alarms first."""
    items: list[Queued] = []
    for finder in FINDERS:
        items += finder(session, config, now)
    return items
