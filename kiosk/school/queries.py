"""Read-side views shared by the CLI and the dashboard: today's states, lockers, events.

Times go out as ISO 8601 in the school's time zone, with the offset, so
"08:41+00:00" in winter and "08:41+01:00" in summer are both unambiguous.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.calendar.days import day_dict, get_day
from kiosk.config import Config
from kiosk.policy import Approval, SchoolDay, approval_in_force, collection_time, local_day_bounds
from kiosk.registers.queries import exceptions_in_force, status_field
from kiosk.school.heartbeats import heartbeat_fresh
from kiosk.store.models import Card, Event, Holding, KioskStatus, Locker, Pupil, Year5Approval
from kiosk.timeutil import naive_utc

TAP_KINDS = ("deposit", "collect", "office_return", "kept_in_office")
COLLECTED_KINDS = ("collect", "office_return", "kept_in_office")


def iso_local(moment: datetime | None, config: Config) -> str | None:
    """Stored naive UTC -> ISO 8601 in the school's zone, or None."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(config.policy.zone).isoformat(timespec="seconds")


def local_today(config: Config, now: datetime | None = None) -> date:
    now = now or datetime.now(UTC)
    return now.astimezone(config.policy.zone).date()


def day_bounds_utc(day: date, config: Config) -> tuple[datetime, datetime]:
    """A local day as naive-UTC [start, end) for querying stored times."""
    start, end = local_day_bounds(day, config.policy.zone)
    return (
        start.astimezone(UTC).replace(tzinfo=None),
        end.astimezone(UTC).replace(tzinfo=None),
    )


def pupil_states(
    session: Session,
    config: Config,
    *,
    now: datetime | None = None,
    classes: list[str] | None = None,
    include_inactive: bool = False,
) -> dict:
    """Today's state of every pupil: the ``phonelocker status --json`` document.

    ``state`` is ``in_locker`` while a phone is held, ``collected`` once it
    has come out today, else ``not_handed_in`` (``school_closed`` on a day the
    calendar marks closed: nothing is "not handed in" then). A phone held since
    an earlier day is ``in_locker`` with ``overnight: true``. ``collection_time``
    (HH:MM) is the day's, from the calendar when set; ``calendar`` is that
    entry (``closed, collect_from, reason, closing_early``) or null. ``exception`` is null, or the
    agreed exception in force today (``{kind, until, review}``): such a pupil
    keeps the phone and is not expected to hand it in.
    """
    now = now or datetime.now(UTC)
    today = local_today(config, now)
    start, end = day_bounds_utc(today, config)
    query = select(Pupil).order_by(Pupil.class_name, Pupil.name, Pupil.id)
    if not include_inactive:
        query = query.where(Pupil.active)
    if classes is not None:
        query = query.where(Pupil.class_name.in_(classes))
    pupils = session.scalars(query).all()
    day = get_day(session, today)
    closed = day is not None and day.closed
    opens_at = collection_time(
        config.policy, today,
        SchoolDay(today, day.closed, day.collect_from, day.reason) if day else None,
    )
    holdings = {h.pupil_id: h for h in session.scalars(select(Holding))}
    todays = session.execute(
        select(Event.pupil_id, Event.kind, Event.at)
        .where(Event.at >= start, Event.at < end, Event.kind.in_(TAP_KINDS + ("refused",)))
        .order_by(Event.at, Event.id)
    ).all()
    handed_in: dict[int, datetime] = {}
    collected: dict[int, datetime] = {}
    refused: dict[int, int] = {}
    for pupil_id, kind, at in todays:
        if pupil_id is None:
            continue
        if kind == "deposit":
            handed_in.setdefault(pupil_id, at)
        elif kind in COLLECTED_KINDS:
            collected[pupil_id] = at
        elif kind == "refused":
            refused[pupil_id] = refused.get(pupil_id, 0) + 1
    cards = set(session.scalars(select(Card.pupil_id).where(Card.active)))
    approvals: dict[int, list[Approval]] = {}
    for row in session.scalars(select(Year5Approval)):
        approvals.setdefault(row.pupil_id, []).append(
            Approval(
                row.approved_at.replace(tzinfo=UTC),
                row.until,
                row.revoked_at.replace(tzinfo=UTC) if row.revoked_at else None,
            )
        )
    excepted = exceptions_in_force(session, today, config.policy.zone)
    rows = []
    for pupil in pupils:
        holding = holdings.get(pupil.id)
        if holding is not None:
            state = "in_locker"
            since = holding.since
            collected_at = None
        elif pupil.id in collected:
            state = "collected"
            since = handed_in.get(pupil.id)
            collected_at = collected[pupil.id]
        else:
            state = "school_closed" if closed else "not_handed_in"
            since, collected_at = None, None
        allowed = pupil.year == 6 or (
            pupil.year == 5
            and approval_in_force(tuple(approvals.get(pupil.id, ())), now, config.policy.zone)
        )
        rows.append(
            {
                "id": pupil.id,
                "name": pupil.name,
                "year": pupil.year,
                "class": pupil.class_name,
                "state": state,
                "handed_in_at": iso_local(since, config),
                "collected_at": iso_local(collected_at, config),
                "overnight": holding is not None and holding.since < start,
                "bay": holding.bay if holding else pupil.bay,
                "allowed": allowed,
                "has_card": pupil.id in cards,
                "refused_today": refused.get(pupil.id, 0),
                "active": pupil.active,
                # an agreed exception in force today: the pupil keeps the phone
                "exception": status_field(excepted.get(pupil.id)),
            }
        )
    return {
        "date": today.isoformat(),
        "collection_time": None if closed else opens_at.strftime("%H:%M"),
        "calendar": None if day is None else day_dict(day),
        "pupils": rows,
    }


def locker_states(session: Session, config: Config, *, now: datetime | None = None) -> list[dict]:
    """Every locker with its kiosk's last heartbeat: the ``phonelocker lockers --json`` list."""
    now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    statuses = {s.locker_id: s for s in session.scalars(select(KioskStatus))}
    result = []
    for locker in session.scalars(select(Locker).order_by(Locker.id)):
        status = statuses.get(locker.id)
        hardware = json.loads(status.hardware_json) if status else {}
        online = heartbeat_fresh(status, now_utc, config.web.offline_after_seconds)
        bays = hardware.get("bays") or [
            {"bay": bay.number, "locked": None, "door": "unknown"} for bay in locker.bays
        ]
        result.append(
            {
                "id": locker.id,
                "name": locker.name,
                "online": online,
                "reader_ok": bool(online and status.reader_ok),
                "bays": bays,
                "leds": hardware.get("leds", {}),
                "emulated": bool(status and status.emulated),
                "heartbeat_at": iso_local(status.updated_at if status else None, config),
                "heartbeat_age_seconds": (
                    round((now_utc - status.updated_at).total_seconds(), 1) if status else None
                ),
                "last_tap_at": iso_local(status.last_tap_at if status else None, config),
                "last_tap_uid": status.last_tap_uid if status else None,
                "last_tap_result": status.last_tap_result if status else None,
                "clock_ok": bool(status.clock_ok) if status else None,
            }
        )
    return result


def event_dict(event: Event, config: Config) -> dict:
    return {
        "id": event.id,
        "at": iso_local(event.at, config),
        "kind": event.kind,
        "pupil_id": event.pupil_id,
        "card_uid": event.card_uid,
        "locker": event.locker_id,
        "bay": event.bay,
        "actor": event.actor,
        "reason": event.reason,
        "clock_suspect": event.clock_suspect,
    }


def query_events(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: list[str] | None = None,
    pupil_id: int | None = None,
    classes: list[str] | None = None,
    limit: int | None = None,
    newest_first: bool = False,
):
    """Events matching the filters; ``since``/``until`` are aware datetimes."""
    query = select(Event)
    if since is not None:
        query = query.where(Event.at >= since.astimezone(UTC).replace(tzinfo=None))
    if until is not None:
        query = query.where(Event.at < until.astimezone(UTC).replace(tzinfo=None))
    if kinds:
        query = query.where(Event.kind.in_(kinds))
    if pupil_id is not None:
        query = query.where(Event.pupil_id == pupil_id)
    if classes is not None:
        query = query.join(Pupil, Pupil.id == Event.pupil_id).where(Pupil.class_name.in_(classes))
    order = (Event.at.desc(), Event.id.desc()) if newest_first else (Event.at, Event.id)
    query = query.order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query)


def recent_unknown_cards(
    session: Session, *, limit: int = 10, within_hours: int = 24, now: datetime | None = None
) -> list:
    """Card UIDs refused as unknown in the ``within_hours`` before ``now``, newest first
    (for enrolling by picking one)."""
    since = naive_utc(now) - timedelta(hours=within_hours)
    rows = session.execute(
        select(Event.card_uid, Event.at)
        .where(Event.kind == "refused", Event.reason == "unknown_card", Event.at >= since)
        .order_by(Event.at.desc())
    ).all()
    seen: dict[str, datetime] = {}
    for uid, at in rows:
        if uid and uid not in seen:
            seen[uid] = at
    assigned = set(session.scalars(select(Card.uid).where(Card.uid.in_(list(seen)), Card.active)))
    return [(uid, at) for uid, at in seen.items() if uid not in assigned][:limit]
