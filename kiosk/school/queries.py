"""Read-side views shared by the CLI and the dashboard: today's states, lockers, events.

Times go out as ISO 8601 in the school's time zone, with the offset, so
"08:41+00:00" in winter and "08:41+01:00" in summer are both unambiguous.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import DateTime, Select, case, func, literal_column, select, type_coerce
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


def local_iso(config: Config):
    """A fast :func:`iso_local` for many rows (exports, a whole school's states): the local
    minute's text and the offset are looked up once per UTC minute (offsets change only on
    whole minutes) instead of per row. Rows in time order mostly fall in the minute of the
    one before (two comparisons); others look their minute up in a bounded cache (an
    export of a year of events crosses tens of thousands of minutes)."""
    zone = config.policy.zone
    minutes: dict[datetime, tuple[str, str]] = {}
    last = [datetime.max, datetime.min, "", ""]  # [start, end) of the last minute, its texts

    def convert(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        if last[0] <= moment < last[1]:
            return f"{last[2]}{moment.second:02d}{last[3]}"
        minute = moment.replace(second=0, microsecond=0)
        found = minutes.get(minute)
        if found is None:
            local = minute.replace(tzinfo=UTC).astimezone(zone)
            if local.utcoffset().seconds % 60:  # a pre-1900 mean-time offset: the slow way
                return iso_local(moment, config)
            if len(minutes) >= _MINUTES_KEPT:
                minutes.clear()
            text = local.isoformat()  # YYYY-MM-DDTHH:MM:00+HH:MM
            found = minutes[minute] = (text[:17], text[19:])
        if minute < _LAST_MINUTE:
            last[:] = [minute, minute + timedelta(minutes=1), *found]
        return f"{found[0]}{moment.second:02d}{found[1]}"

    return convert


#: the start of the last minute a datetime can hold (the one after it overflows)
_LAST_MINUTE = datetime.max.replace(second=0, microsecond=0)
#: local minutes :func:`local_iso` keeps (a few days of taps)
_MINUTES_KEPT = 8192


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


def todays_taps_query(start: datetime, end: datetime) -> Select:
    """Per pupil, the day's first deposit, last collection and refused taps: plain
    ``(pupil_id, handed_in_at, collected_at, refused)`` rows, aggregated in SQL.

    Filtered on time only, so the planner's one choice is ``ix_events_at`` (a
    day's rows, whatever the size of the history). With ``kind IN (...)`` in
    the WHERE clause, SQLite without statistics picks ``ix_events_kind`` and
    reads every deposit and collect of the year; the kinds are sorted out by
    ``CASE``. The group key is ``pupil_id + 0``: on the bare column SQLite with
    statistics skip-scans ``ix_events_pupil_at`` once per pupil to save the sort
    (about twice as slow as the day's range of ``ix_events_at``).
    """
    events = Event.__table__.c
    one, zero = literal_column("1"), literal_column("0")  # constants, not parameters
    pupil_key = (events.pupil_id + zero).label("pupil_id")
    return (
        select(
            pupil_key,
            type_coerce(func.min(case((events.kind == "deposit", events.at))), DateTime),
            func.sum(case((events.kind == "refused", one), else_=zero)),
            # the last time the phone came out, by each way it can (COLLECTED_KINDS)
            *(type_coerce(func.max(case((events.kind == kind, events.at))), DateTime)
              for kind in COLLECTED_KINDS),
        )
        .where(events.at >= start, events.at < end, events.pupil_id.is_not(None))
        .group_by(pupil_key)
    )


def _todays_taps(session: Session, start: datetime, end: datetime, in_view=None):
    """Per pupil today: first deposit, last collection (time and kind: ``collect``,
    ``office_return`` or ``kept_in_office``), refused taps (one indexed query);
    ``in_view`` a subquery of the pupil ids wanted (None: everyone)."""
    handed_in: dict[int, datetime] = {}
    collected: dict[int, tuple[datetime, str]] = {}
    refused: dict[int, int] = {}
    query = todays_taps_query(start, end)
    if in_view is not None:
        query = query.where(Event.__table__.c.pupil_id.in_(in_view))
    for pupil_id, first_in, refusals, *outs in session.execute(query).all():
        if first_in is not None:
            handed_in[pupil_id] = first_in
        last = max(((at, kind) for at, kind in zip(outs, COLLECTED_KINDS, strict=True)
                    if at is not None), default=None)
        if last is not None:
            collected[pupil_id] = last
        if refusals:
            refused[pupil_id] = refusals
    return handed_in, collected, refused


def _year5_approvals(session: Session, pupil_ids: list[int]) -> dict[int, list[Approval]]:
    """The approvals of the Year 5 pupils in ``pupil_ids`` (the only ones that need one)."""
    approvals: dict[int, list[Approval]] = {}
    if not pupil_ids:
        return approvals
    # Table columns, not ORM attributes: plain rows, no ORM loading per row.
    a, p = Year5Approval.__table__.c, Pupil.__table__.c
    query = (
        select(a.pupil_id, a.approved_at, a.until, a.revoked_at)
        .join(Pupil.__table__, p.id == a.pupil_id)
        .where(p.year == 5)
    )
    if len(pupil_ids) <= 500:  # a class or a few: look them up (bound parameters stay few)
        query = query.where(a.pupil_id.in_(pupil_ids))
    wanted = set(pupil_ids)
    for pupil_id, approved_at, until, revoked_at in session.execute(query).all():
        if pupil_id in wanted:
            approvals.setdefault(pupil_id, []).append(
                Approval(
                    approved_at.replace(tzinfo=UTC),
                    until,
                    revoked_at.replace(tzinfo=UTC) if revoked_at else None,
                )
            )
    return approvals


def pupil_states(
    session: Session,
    config: Config,
    *,
    now: datetime | None = None,
    classes: list[str] | None = None,
    pupil_ids: list[int] | None = None,
    include_inactive: bool = False,
) -> dict:
    """Today's state of every pupil: the ``phonelocker status --json`` document.

    ``state`` is ``in_locker`` while a phone is held, ``collected`` once it
    has come out today (``collected_kind`` says how: ``collect`` at the locker,
    ``office_return`` handed back by the office, ``kept_in_office``), else
    ``not_handed_in`` (``school_closed`` on a day the calendar marks closed:
    nothing is "not handed in" then). A phone held since
    an earlier day is ``in_locker`` with ``overnight: true``. ``collection_time``
    (HH:MM) is the day's, from the calendar when set; ``calendar`` is that
    entry (``closed, collect_from, reason, closing_early``) or null. ``exception`` is null, or the
    agreed exception in force today (``{kind, until, review}``): such a pupil
    keeps the phone and is not expected to hand it in.

    ``classes`` and ``pupil_ids`` (a page of a list) narrow the pupils; the
    other tables are then read for those pupils only.

    Each table is read once as plain column rows (no ORM objects: a whole
    school is thousands of rows, polled every second); the per-pupil row is
    built in the one loop below.
    """
    now = now or datetime.now(UTC)
    today = local_today(config, now)
    start, end = day_bounds_utc(today, config)
    # Table columns, not ORM attributes: the rows skip the ORM's loading machinery.
    p, h, c = Pupil.__table__.c, Holding.__table__.c, Card.__table__.c
    narrow = []
    if classes is not None:
        narrow.append(p.class_name.in_(classes))
    if pupil_ids is not None:
        narrow.append(p.id.in_(pupil_ids))
    query = select(p.id, p.name, p.year, p.class_name, p.bay, p.active).where(*narrow)
    if not include_inactive:
        query = query.where(p.active)
    pupils = session.execute(query.order_by(p.class_name, p.name, p.id)).all()
    # For some pupils (a teacher's classes, a pupil's page, a page of the list) the other
    # tables are read for the pupils in view only, so the cost follows the view.
    in_view = select(p.id).where(*narrow).scalar_subquery() if narrow else None
    holdings_query = select(h.pupil_id, h.bay, h.since)
    cards_query = select(c.pupil_id).where(c.active)
    if in_view is not None:
        holdings_query = holdings_query.where(h.pupil_id.in_(in_view))
        cards_query = cards_query.where(c.pupil_id.in_(in_view))
    holdings = {
        pupil_id: (bay, since) for pupil_id, bay, since in session.execute(holdings_query).all()
    }
    handed_in, collected, refused = _todays_taps(session, start, end, in_view)
    cards = set(session.scalars(cards_query).all())
    approvals = _year5_approvals(session, [p.id for p in pupils if p.year == 5])
    zone = config.policy.zone
    day = get_day(session, today)
    closed = day is not None and day.closed
    opens_at = collection_time(
        config.policy, today,
        SchoolDay(today, day.closed, day.collect_from, day.reason) if day else None,
    )
    excepted = {
        pupil_id: status_field(row)
        for pupil_id, row in exceptions_in_force(session, today, zone).items()
    }
    iso = local_iso(config)  # one zone lookup per minute, not per time
    # Whether a Year 5 pupil is allowed depends on their approvals only.
    allowed_year5 = {
        pupil_id: approval_in_force(tuple(rows), now, zone) for pupil_id, rows in approvals.items()
    }
    not_in = "school_closed" if closed else "not_handed_in"
    rows = []
    append = rows.append
    for pupil_id, name, year, class_name, bay, active in pupils:
        holding = holdings.get(pupil_id)
        if holding is not None:
            state, since, collected_at, collected_kind = "in_locker", holding[1], None, None
        elif pupil_id in collected:
            state, since = "collected", handed_in.get(pupil_id)
            collected_at, collected_kind = collected[pupil_id]
        else:
            state, since, collected_at, collected_kind = not_in, None, None, None
        append(
            {
                "id": pupil_id,
                "name": name,
                "year": year,
                "class": class_name,
                "state": state,
                "handed_in_at": iso(since),
                "collected_at": iso(collected_at),
                # how it came out: "collect" (a tap), "office_return", "kept_in_office"
                "collected_kind": collected_kind,
                "overnight": holding is not None and holding[1] < start,
                "bay": holding[0] if holding is not None else bay,
                "allowed": year == 6 or (year == 5 and allowed_year5.get(pupil_id, False)),
                "has_card": pupil_id in cards,
                "refused_today": refused.get(pupil_id, 0),
                "active": active,
                # an agreed exception in force today: the pupil keeps the phone
                "exception": excepted.get(pupil_id),
            }
        )
    return {
        "date": today.isoformat(),
        "collection_time": None if closed else opens_at.strftime("%H:%M"),
        "calendar": None if day is None else day_dict(day),
        "pupils": rows,
    }


def last_event_id(session: Session) -> int:
    """The newest event's id (0 for none): the change counter of everything pupils see.

    Every change to a pupil's day (a tap, a holding, an approval, a card, an
    import, a rollover) records an event in the same transaction, so this one
    primary-key lookup tells a poller whether anything it shows may have changed.
    """
    return session.scalar(select(func.max(Event.id))) or 0


#: more changes than this since a poller's version and it gets every section again
MAX_CHANGES = 200


def changes_since(session: Session, after_id: int) -> list[tuple[int | None, str]] | None:
    """``(pupil_id, kind)`` of the events after ``after_id`` (oldest first), or None when
    there are more than :data:`MAX_CHANGES` of them (cheaper to redraw everything)."""
    rows = session.execute(
        select(Event.pupil_id, Event.kind)
        .where(Event.id > after_id)
        .order_by(Event.id)
        .limit(MAX_CHANGES + 1)
    ).all()
    if len(rows) > MAX_CHANGES:
        return None
    return [tuple(row) for row in rows]


def pupil_classes(session: Session, pupil_ids: set[int]) -> set[str]:
    """The classes the pupils are in now."""
    if not pupil_ids:
        return set()
    return set(session.scalars(select(Pupil.class_name).where(Pupil.id.in_(pupil_ids))))


def surname_key(row: dict) -> tuple[str, str]:
    """Sort key of a :func:`pupil_states` row: surname (the name's last word), then the
    whole name, ignoring case."""
    return name_key(row["name"])


def name_key(name: str) -> tuple[str, str]:
    """:func:`surname_key` of a bare name."""
    name = name.casefold()
    return (name.rsplit(" ", 1)[-1], name)


def roll(
    session: Session, *, classes: list[str] | None = None, include_inactive: bool = False
) -> list[tuple[int, str, str]]:
    """``(id, name, class)`` of the pupils (in ``classes``; leavers too if asked), unordered:
    what a list needs to filter, sort and page before it reads the states of one page."""
    p = Pupil.__table__.c
    query = select(p.id, p.name, p.class_name)
    if classes is not None:
        query = query.where(p.class_name.in_(classes))
    if not include_inactive:
        query = query.where(p.active)
    return [tuple(row) for row in session.execute(query).all()]


def locker_states(session: Session, config: Config, *, now: datetime | None = None) -> list[dict]:
    """Every locker with its kiosk's last heartbeat: the ``phonelocker lockers --json`` list."""
    now_utc = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    statuses = {s.locker_id: s for s in session.scalars(select(KioskStatus))}
    # what the central database found done offline that disagrees (kiosk/sync/up.py)
    conflicts = dict(session.execute(
        select(Event.locker_id, func.count()).where(
            Event.kind == "sync_conflict", Event.at >= now_utc - timedelta(days=7)
        ).group_by(Event.locker_id)
    ).all())
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
                # with a central database (kiosk/sync), as the kiosk last reported
                "last_sync": iso_local(status.last_sync_at if status else None, config),
                "pending_events": status.pending_events if status else None,
                "offline_since": iso_local(status.offline_since if status else None, config),
                "sync_error": status.sync_error if status else None,
                "sync_conflicts": conflicts.get(locker.id, 0),
            }
        )
    return result


def event_dict(event, config: Config, iso=None) -> dict:
    """One event (an :class:`Event` or an :func:`event_rows` row) as the JSON the CLI prints;
    ``iso`` a :func:`local_iso` converter, for many rows."""
    return {
        "id": event.id,
        "uid": event.uid,
        "at": iso(event.at) if iso is not None else iso_local(event.at, config),
        "kind": event.kind,
        "pupil_id": event.pupil_id,
        "card_uid": event.card_uid,
        "locker": event.locker_id,
        "bay": event.bay,
        "actor": event.actor,
        "reason": event.reason,
        "clock_suspect": event.clock_suspect,
    }


def events_select(
    columns,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: list[str] | None = None,
    pupil_id: int | None = None,
    classes: list[str] | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> Select:
    query = select(*columns)
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
    return query


def query_events(session: Session, **filters):
    """Events (ORM objects) matching the filters; ``since``/``until`` are aware datetimes.

    The filters are ``since``, ``until``, ``kinds``, ``pupil_id``, ``classes``,
    ``limit`` and ``newest_first``.
    """
    return session.scalars(events_select((Event,), **filters))


#: rows fetched from the database at a time by :func:`event_rows`
STREAM_ROWS = 2000

#: the columns :func:`event_dict` reads, in its order (``details`` stays in the database)
EVENT_COLUMNS = ("id", "uid", "at", "kind", "pupil_id", "card_uid", "locker_id", "bay", "actor",
                 "reason", "clock_suspect")


def event_rows(session: Session, **filters):
    """:func:`query_events` as plain column rows (:data:`EVENT_COLUMNS`, in that order),
    fetched :data:`STREAM_ROWS` at a time (constant memory for a year of events;
    :func:`event_dict` takes either). Run on the session's connection as a Core
    statement: no ORM machinery per row."""
    columns = Event.__table__.c
    query = events_select(tuple(columns[name] for name in EVENT_COLUMNS), **filters)
    return session.connection().execute(query.execution_options(yield_per=STREAM_ROWS))


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
