"""Calendar days: a date that is closed, or whose collection time differs from ``[policy]``.

Every change is audited (``calendar_set``, ``calendar_cleared``,
``closing_early``) in the caller's transaction; the caller commits. Times are
the school's local wall-clock times, as staff write them ("13:30").
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.config import PolicyConfig
from kiosk.errors import ActionError
from kiosk.inputs import InputError, check_text, parse_day
from kiosk.policy import SchoolDay, collection_time
from kiosk.store.events import Kind, record_event
from kiosk.store.models import CalendarDay
from kiosk.timeutil import naive_utc

MAX_REASON = 500
#: the CSV's columns, in order (a header line naming them is optional)
CSV_COLUMNS = ("date", "closed", "collect_from", "reason")
#: a year of school days is ~190; a file far longer than a year is a mistake
MAX_CSV_LINES = 1000
_TRUE = {"yes", "y", "true", "1", "closed"}
_FALSE = {"", "no", "n", "false", "0"}


@dataclass(frozen=True)
class DayEntry:
    """One date to set: closed, or collection from ``collect_from``."""

    on_date: date
    closed: bool
    collect_from: time | None
    reason: str


def parse_hhmm(text: str, what: str = "time") -> time:
    """``HH:MM`` (24-hour, ASCII digits) as a time, else :class:`InputError`.

    Not :func:`kiosk.config_values.parse_hhmm`: that one raises ConfigError and its ``\\d``
    takes any script's digits; what staff type is held to ASCII, as
    :mod:`kiosk.inputs` does for dates."""
    raw = (text or "").strip()
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", raw)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    shown = raw if len(raw) <= 20 else raw[:20] + "…"
    raise InputError(f"{what} {shown!r} is not a time HH:MM (24-hour, e.g. 13:30)")


def check_reason(reason: str | None) -> str:
    """A reason staff can read later: required, one line, at most :data:`MAX_REASON`."""
    text = check_text((reason or "").strip(), "reason")
    if not text:
        raise InputError("a reason is required (e.g. INSET day, last day of term)")
    if len(text) > MAX_REASON:
        raise InputError(f"the reason is too long (at most {MAX_REASON} characters)")
    return text


def entry(on_date: date, *, closed: bool, collect_from: time | None, reason: str) -> DayEntry:
    """A checked :class:`DayEntry`: exactly one of ``closed`` and ``collect_from``."""
    if closed and collect_from is not None:
        raise InputError("a closed day has no collection time: give one or the other")
    if not closed and collect_from is None:
        raise InputError("give either closed or a collection time")
    return DayEntry(on_date, closed, collect_from, check_reason(reason))


def describe(on_date: date, closed: bool, collect_from: time | None, reason: str) -> str:
    """How staff read a day: "Friday 18 December 2026: collection from 13:30 (last day)"."""
    what = "school closed" if closed else f"collection from {collect_from:%H:%M}"
    return f"{on_date:%A} {on_date.day} {on_date:%B %Y}: {what} ({reason})"


def get_day(session: Session, on_date: date) -> CalendarDay | None:
    return session.scalars(select(CalendarDay).where(CalendarDay.on_date == on_date)).first()


_SCHOOL_DAY = select(CalendarDay.closed, CalendarDay.collect_from, CalendarDay.reason)


def school_day_on(executor: Any, on_date: date) -> SchoolDay | None:
    """The policy's fact for ``on_date``; ``executor`` is a Session or a Connection."""
    row = executor.execute(_SCHOOL_DAY.where(CalendarDay.on_date == on_date)).first()
    if row is None:
        return None
    return SchoolDay(on_date, bool(row.closed), row.collect_from, row.reason)


def day_collection_time(executor: Any, rules: PolicyConfig, on_date: date) -> time:
    """The collection time of local ``on_date``: the calendar's, else ``[policy]``'s."""
    return collection_time(rules, on_date, school_day_on(executor, on_date))


def list_days(
    session: Session, *, since: date | None = None, until: date | None = None
) -> list[CalendarDay]:
    query = select(CalendarDay).order_by(CalendarDay.on_date)
    if since is not None:
        query = query.where(CalendarDay.on_date >= since)
    if until is not None:
        query = query.where(CalendarDay.on_date <= until)
    return list(session.scalars(query))


def day_dict(day: CalendarDay) -> dict:
    """``calendar list --json``: ``date, closed, collect_from, reason`` (and who, when)."""
    return {
        "date": day.on_date.isoformat(),
        "closed": day.closed,
        "collect_from": day.collect_from.strftime("%H:%M") if day.collect_from else None,
        "reason": day.reason,
        "closing_early": day.closing_early,
        "set_by": day.set_by,
        "set_at": naive_utc(day.set_at).isoformat(timespec="seconds") + "Z",
    }


def _store(session: Session, item: DayEntry, *, by: str, now: datetime,
           closing_early: bool = False) -> CalendarDay:
    day = get_day(session, item.on_date)
    if day is None:
        day = CalendarDay(on_date=item.on_date)
        session.add(day)
    day.closed = item.closed
    day.collect_from = item.collect_from
    day.reason = item.reason
    day.closing_early = closing_early
    day.set_by = by
    day.set_at = naive_utc(now)
    session.flush()
    return day


def set_day(session: Session, item: DayEntry, *, by: str, now: datetime) -> CalendarDay:
    """Set (or replace) one date's entry; audited as ``calendar_set``."""
    by = _check_by(by)
    day = _store(session, item, by=by, now=now)
    record_event(session, Kind.CALENDAR_SET, at=naive_utc(now), actor=by,
                 reason=describe(item.on_date, item.closed, item.collect_from, item.reason))
    return day


def clear_day(session: Session, on_date: date, *, by: str, now: datetime) -> None:
    """Remove a date's entry: ``[policy]`` applies again. ActionError if there is none."""
    by = _check_by(by)
    day = get_day(session, on_date)
    if day is None:
        raise ActionError(f"nothing is set for {on_date.isoformat()}")
    what = describe(day.on_date, day.closed, day.collect_from, day.reason)
    session.delete(day)
    record_event(session, Kind.CALENDAR_CLEARED, at=naive_utc(now), actor=by,
                 reason=f"cleared {what}")


def close_early(
    session: Session, rules: PolicyConfig, *, reason: str, by: str, now: datetime
) -> CalendarDay:
    """"School closing early — collection from now": today's collection time becomes
    this minute (local, rounded down). Refused when collection is already open."""
    by = _check_by(by)
    reason = check_reason(reason)
    local_now = now.astimezone(rules.zone)
    today = local_now.date()
    current = school_day_on(session, today)
    if current is not None and current.closed:
        raise ActionError(f"the school is already marked closed today ({current.reason})")
    opens_at = collection_time(rules, today, current)
    from_now = local_now.time().replace(second=0, microsecond=0)
    if opens_at <= from_now:
        raise ActionError(f"collection is already open today (from {opens_at:%H:%M})")
    item = DayEntry(today, False, from_now, reason)
    day = _store(session, item, by=by, now=now, closing_early=True)
    record_event(session, Kind.CLOSING_EARLY, at=naive_utc(now), actor=by,
                 reason=f"school closing early: collection from {from_now:%H:%M} ({reason})")
    return day


def _check_by(by: str) -> str:
    by = check_text((by or "").strip(), "who")
    if not by:
        raise InputError("say who is doing this (--by)")
    return by


# --- CSV ------------------------------------------------------------------------------


class CalendarImportError(InputError):
    """The CSV has mistakes; ``errors`` lists them by line. Nothing was changed."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the file, nothing imported: "
                         + "; ".join(errors[:5]) + (" …" if len(errors) > 5 else ""))


def _closed(text: str) -> bool:
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"closed must be yes or no, got {text.strip()[:20]!r}")


def parse_csv(data: bytes | str) -> list[DayEntry]:
    """``date,closed,collect_from,reason``, one line per day (header optional).

    All or nothing: every mistake is collected, by line, into one
    :class:`CalendarImportError`.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CalendarImportError(["the file is not UTF-8 text (save it as CSV UTF-8)"]) \
                from None
    entries: list[DayEntry] = []
    errors: list[str] = []
    seen: dict[date, int] = {}
    reader = csv.reader(io.StringIO(data, newline=""))
    first = True
    try:
        for row in reader:
            line = reader.line_num
            if line > MAX_CSV_LINES:
                errors.append(f"more than {MAX_CSV_LINES} lines: split the file")
                break
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            header, first = first and cells[0].casefold() == "date", False
            if header:
                continue
            if len(cells) != len(CSV_COLUMNS):
                errors.append(f"line {line}: expected {len(CSV_COLUMNS)} columns "
                              f"({','.join(CSV_COLUMNS)}), got {len(cells)}")
                continue
            try:
                on_date = parse_day(cells[0], "date")
                closed = _closed(cells[1])
                collect_from = parse_hhmm(cells[2], "collect_from") if cells[2] else None
                item = entry(on_date, closed=closed, collect_from=collect_from, reason=cells[3])
            except InputError as error:
                errors.append(f"line {line}: {error}")
                continue
            if on_date in seen:
                errors.append(f"line {line}: {on_date} is already on line {seen[on_date]}")
                continue
            seen[on_date] = line
            entries.append(item)
    except csv.Error as error:
        errors.append(f"line {reader.line_num}: not readable as CSV ({error})")
    if not entries and not errors:
        errors.append("the file has no days in it")
    if errors:
        raise CalendarImportError(errors)
    return entries


def import_days(session: Session, entries: list[DayEntry], *, by: str, now: datetime) -> int:
    """Set every entry (replacing what a date had); the caller commits all or none."""
    for item in entries:
        set_day(session, item, by=by, now=now)
    return len(entries)
