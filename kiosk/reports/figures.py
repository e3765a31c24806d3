"""The report's figures: a few queries, folded in Python into per class, per week numbers.

Definitions (also in docs/operations.md, "Reading the report"):

* **Days and weeks** are the school's (``[policy] timezone``, DST-aware). A
  **school day** is a weekday (Monday to Friday) in the range on which the
  kiosk recorded at least one tap (a hand-in, collection or refusal, by any
  pupil): holidays, INSET days and days the kiosk was off are left out rather
  than counted as 0 %. Weeks are ISO weeks, named by their Monday ("w/c").
* A pupil is **allowed a phone** on a school day if they are on roll that day
  (active, or left after the day began) and in Year 6, or in Year 5 with a
  senior leadership team approval in force at noon that day
  (:func:`kiosk.policy.approval_in_force`). Year and class are the pupil's
  *current* ones: a report over last year, run after the rollover, shows this
  year's classes.
* **Handed in by what time**: the pupil's first hand-in of the day at or before
  08:45, at or before 09:00, or at all. A phone still in the locker from an
  earlier day (kept overnight) counts as handed in by 08:45. Shares are of the
  pupil-days allowed a phone, and only allowed pupils count towards them.
* Each hand-in ends in exactly one of: **collected** by the pupil that day, up
  to :data:`LATE_AFTER` (30 minutes) after the day's collection time (or earlier
  with an early release); **late**: collected by the pupil that day, more than
  30 minutes after collection time; **missed**: not collected by the pupil,
  but out of the locker that day (the office handed it back or kept it);
  **kept overnight**: still in the locker when the day ended. A hand-in on a
  day that has not ended yet (today) is *not yet collected* and counts in none.
* **Refused taps** by reason code (:mod:`kiosk.reports.words` has the words).
  Taps by a card nobody has (unknown, random ID) belong to no class, and
  appear, with **emergency unlocks** (``override`` events; "open all" when
  every bay was opened), only in a whole-school report.
* **Year 5 approvals in force** at any time in the range, and the **agreed
  exceptions** (the register in :mod:`kiosk.registers`) in force on any day of it.

Speed (measured with ``phonelocker bench report``): one query for the events
(four columns, the tap kinds, in the range plus :data:`LOOKBACK_DAYS` before it
to know which phones were already in the locker), read on a DBAPI cursor in the
order they were recorded, with times compared in the form the database returns
them (no parsing); one query each for pupils, approvals and overrides; then one
pass in Python. Grouping by pupil and local day in SQL was tried first and was
slower on SQLite (its GROUP BY sorts every event: about 2 s for a school year
before any row reached Python, against about 1 s to read them all in id order).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import DateTime, or_, select, text
from sqlalchemy.orm import Session

from kiosk.config import Config
from kiosk.policy import Approval, approval_in_force, local_day_bounds
from kiosk.registers.exceptions import kind_words
from kiosk.reports.words import place_words
from kiosk.school.queries import surname_key
from kiosk.store.models import Event, Locker, Pupil, PupilException, Year5Approval
from kiosk.store.prepared import Prepared

#: the "handed in by" times, local; after the last one a hand-in is "later"
HAND_IN_BY: tuple[time, time] = (time(8, 45), time(9, 0))
#: a collection this long after the day's collection time is late
LATE_AFTER = timedelta(minutes=30)
#: how far before the range the events are read, to know phones already in the locker
LOOKBACK_DAYS = 31
#: the longest range a report covers (two school years), and the years it may cover
MAX_RANGE_DAYS = 731
YEARS = (2000, 2199)
#: when in the day a Year 5 approval must be in force for the pupil to count as allowed
APPROVAL_CHECKED_AT = time(12, 0)

DEPOSIT = "deposit"
PUPIL_COLLECT = "collect"
OFFICE_OUT = ("office_return", "kept_in_office")
REFUSED = "refused"
EVENT_KINDS = (DEPOSIT, PUPIL_COLLECT, *OFFICE_OUT, REFUSED)

ON_TIME, LATE, MISSED, OVERNIGHT = "on_time", "late", "missed", "overnight"


@dataclass
class Counts:
    """Pupil-day counts for one class and week (or a total)."""

    school_days: int = 0
    #: pupil-days on which the pupil was allowed a phone
    allowed: int = 0
    by_first: int = 0  # handed in by HAND_IN_BY[0] (08:45)
    by_second: int = 0  # handed in by HAND_IN_BY[1] (09:00)
    handed_in: int = 0
    collected: int = 0
    late: int = 0
    missed: int = 0
    overnight: int = 0

    def add(self, other: Counts) -> None:
        for name in ("allowed", "by_first", "by_second", "handed_in", "collected", "late",
                     "missed", "overnight"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def share(self, count: int) -> float | None:
        """``count`` as a percentage of the pupil-days allowed (None when none were)."""
        return None if not self.allowed else 100.0 * count / self.allowed

    @property
    def share_by_first(self) -> float | None:
        return self.share(self.by_first)

    @property
    def share_by_second(self) -> float | None:
        return self.share(self.by_second)

    @property
    def share_handed_in(self) -> float | None:
        return self.share(self.handed_in)


@dataclass(frozen=True)
class OverrideRow:
    at: datetime  # local, aware
    locker_id: str | None
    bay: int | None
    actor: str | None
    reason: str | None
    #: the locker's name (its id when the locker is gone), for people to read
    locker_name: str = ""


@dataclass(frozen=True)
class ApprovalRow:
    pupil: str
    class_name: str
    approved_by: str
    approved_at: datetime  # local, aware
    until: date | None
    revoked_at: datetime | None  # local, aware
    revoked_by: str | None


@dataclass
class Report:
    """Everything the page, the HTML file and the CSV show, for one range and scope."""

    start: date
    end: date
    #: the classes the report covers (sorted); every class with pupils for a whole-school one
    classes: list[str]
    #: True when no class filter applies: school-wide facts (unknown cards, unlocks) shown
    whole_school: bool
    generated_at: datetime
    school_days: list[date] = field(default_factory=list)
    #: Mondays of the ISO weeks that have school days, in order
    weeks: list[date] = field(default_factory=list)
    by_class_week: dict[tuple[str, date], Counts] = field(default_factory=dict)
    by_week: dict[date, Counts] = field(default_factory=dict)
    by_class: dict[str, Counts] = field(default_factory=dict)
    total: Counts = field(default_factory=Counts)
    #: (week Monday, reason code) -> refused taps
    refusals: Counter = field(default_factory=Counter)
    overrides: list[OverrideRow] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)
    exceptions: list = field(default_factory=list)

    @property
    def refusal_totals(self) -> Counter:
        totals: Counter = Counter()
        for (_week, code), count in self.refusals.items():
            totals[code] += count
        return totals


def check_range(start: date, end: date) -> None:
    """Raise ValueError, saying why, unless ``start``..``end`` is a range a report can cover."""
    if end < start:
        raise ValueError(f"the report starts on {start} but ends before it, on {end}")
    for day in (start, end):
        if not YEARS[0] <= day.year <= YEARS[1]:
            raise ValueError(f"{day} is outside the years a report covers "
                             f"({YEARS[0]}-{YEARS[1]})")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValueError(f"a report covers at most {MAX_RANGE_DAYS} days (two school years); "
                         f"{start} to {end} is {(end - start).days + 1}")


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def exceptions_in_force(session: Session, start: date, end: date, classes: list[str] | None
                        ) -> list[str]:
    """The agreed exceptions (the register, :mod:`kiosk.registers`) in force on any day of
    ``start..end``, one line each: who, what, agreed by whom, from when until when."""
    query = (
        select(PupilException, Pupil.name, Pupil.class_name)
        .join(Pupil, Pupil.id == PupilException.pupil_id)
        .where(PupilException.starts_on <= end,
               or_(PupilException.until.is_(None), PupilException.until >= start))
        .order_by(Pupil.class_name, Pupil.name, PupilException.id)
    )
    if classes is not None:
        query = query.where(Pupil.class_name.in_(classes))
    lines = []
    # by class, then surname (as every list of pupils a person reads)
    found = sorted(session.execute(query).all(),
                   key=lambda r: (r.class_name, surname_key({"name": r.name})))
    for row, name, class_name in found:
        if row.ended_at is not None and row.ended_at.date() < start:
            continue  # ended before the range began
        until = f" until {row.until:%-d %b %Y}" if row.until else ""
        ended = f", ended {row.ended_at:%-d %b %Y}" if row.ended_at else ""
        lines.append(f"{name} ({class_name}): {kind_words(row.kind)}, agreed by "
                     f"{row.agreed_by}, from {row.starts_on:%-d %b %Y}{until}{ended}")
    return lines


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _local_instant(day: date, at: time, zone) -> datetime:
    return _naive(datetime.combine(day, at, tzinfo=zone))


# The events the figures need, in the order they were recorded (id: a clock that went
# back cannot reorder a pupil's hand-in and collection). The id range is found
# through the ``at`` index first, so the scan is a primary-key range: short for
# four weeks, and no sort for a year (``kind || ''`` keeps SQLite from choosing
# the kind index and then sorting every row by id). Run on a DBAPI cursor
# (kiosk/store/prepared.py): hundreds of thousands of rows, no per-row SQLAlchemy work.
ID_RANGE_SQL = text(
    "SELECT (SELECT MIN(id) FROM events WHERE at >= :since),"
    " (SELECT MAX(id) FROM events WHERE at < :until)"
)
PHONE_EVENTS_SQL = text(
    "SELECT pupil_id, kind, at FROM events"
    " WHERE id >= :low AND id <= :high AND at >= :since AND at < :until"
    " AND kind || '' IN ('deposit', 'collect', 'office_return', 'kept_in_office')"
    " ORDER BY id"
)
REFUSALS_SQL = text(
    "SELECT pupil_id, at, reason FROM events"
    " WHERE id >= :low AND id <= :high AND at >= :since AND at < :until AND kind = 'refused'"
)
RANGE_TYPES = {"since": DateTime(), "until": DateTime()}


def _events(session: Session, since: datetime, until: datetime):
    """Rows of hand-ins and collections (pupil_id, kind, at) and of refusals (pupil_id,
    at, reason), ``at`` as the driver returns it, and a function turning a naive-UTC
    datetime into that same form (so they compare without parsing)."""
    dialect = session.get_bind().dialect
    cursor = session.connection().connection.cursor()
    bounds = {"since": since, "until": until}
    low, high = Prepared(ID_RANGE_SQL, dialect, binds=RANGE_TYPES).execute(
        cursor, bounds).fetchone()
    processor = DateTime().dialect_impl(dialect).bind_processor(dialect)
    key = processor if processor is not None else (lambda moment: moment)
    if low is None or high is None:
        return [], [], key
    values = {**bounds, "low": low, "high": high}
    phones = Prepared(PHONE_EVENTS_SQL, dialect, binds=RANGE_TYPES).execute(
        cursor, values).fetchall()
    refusals = Prepared(REFUSALS_SQL, dialect, binds=RANGE_TYPES).execute(
        cursor, values).fetchall()
    return phones, refusals, key


@dataclass
class _Pupil:
    id: int
    class_name: str
    year: int
    active: bool
    left_at: datetime | None
    approvals: list[Approval] = field(default_factory=list)
    #: the school days (indexes) allowed, or None when every one is
    allowed_days: set[int] | None = None

    @property
    def always_allowed(self) -> bool:
        """Allowed on every day of any range: Year 6 and on roll."""
        return self.year == 6 and self.active

    def allowed_on(self, day: date, day_start: datetime, zone) -> bool:
        if not self.active and (self.left_at is None or self.left_at <= day_start):
            return False
        if self.year == 6:
            return True
        if self.year != 5 or not self.approvals:
            return False
        noon = datetime.combine(day, APPROVAL_CHECKED_AT, tzinfo=zone)
        return approval_in_force(tuple(self.approvals), noon, zone)


@dataclass
class _Calendar:
    """Every local day from the lookback to the end of the range, with its UTC start."""

    days: list[date]
    starts: list[datetime]
    range_start: datetime
    range_end: datetime

    @classmethod
    def for_range(cls, start: date, end: date, zone) -> _Calendar:
        first = start - timedelta(days=LOOKBACK_DAYS)
        days = [first + timedelta(days=i) for i in range((end - first).days + 1)]
        starts = [_naive(local_day_bounds(day, zone)[0]) for day in days]
        return cls(days, starts, starts[LOOKBACK_DAYS], _naive(local_day_bounds(end, zone)[1]))

    def day_ended(self, index: int, now: datetime) -> bool:
        ends = self.starts[index + 1] if index + 1 < len(self.days) else self.range_end
        return ends <= now


@dataclass
class _Fold:
    """What one pass over the events found, by (pupil, day index)."""

    first_deposit: dict[tuple[int, int], object] = field(default_factory=dict)
    outcome: dict[tuple[int, int], str] = field(default_factory=dict)
    #: the phone was in the locker when the day began (kept from an earlier day)
    in_at_start: set[tuple[int, int]] = field(default_factory=set)
    #: day indexes with any tap
    tapped: set[int] = field(default_factory=set)


def _fold(phones, start_keys: list, late_after: list, calendar: _Calendar,
          now: datetime) -> _Fold:
    """One pass over hand-ins and collections in recorded order."""
    found = _Fold()
    first_deposit, outcome, in_at_start = found.first_deposit, found.outcome, found.in_at_start
    held: dict[int, int] = {}  # pupil -> index of the day the phone went in
    # Events come day by day, so the day is looked up only when one falls outside it.
    i, low, high = 0, start_keys[0], start_keys[0]
    for pupil_id, kind, at in phones:
        if not low <= at < high:
            i = bisect_right(start_keys, at) - 1
            low, high = start_keys[i], start_keys[i + 1]
            found.tapped.add(i)
        if kind == DEPOSIT:
            day_key = (pupil_id, i)
            if day_key not in first_deposit:
                first_deposit[day_key] = at
            held[pupil_id] = i
            continue
        went_in = held.pop(pupil_id, None)
        if went_in is None:
            continue
        if went_in != i:
            outcome[(pupil_id, went_in)] = OVERNIGHT
            in_at_start.update((pupil_id, later) for later in range(went_in + 1, i + 1))
        elif kind == PUPIL_COLLECT:
            outcome[(pupil_id, i)] = LATE if at > late_after[i] else ON_TIME
        else:
            outcome[(pupil_id, i)] = MISSED
    for pupil_id, went_in in held.items():  # still in the locker at the end of the range
        if calendar.day_ended(went_in, now):
            outcome[(pupil_id, went_in)] = OVERNIGHT
        later = went_in + 1
        while later < len(calendar.days) and calendar.starts[later] <= now:
            in_at_start.add((pupil_id, later))
            later += 1
    return found


def build_report(
    session: Session,
    config: Config,
    start: date,
    end: date,
    *,
    now: datetime,
    classes: list[str] | None = None,
) -> Report:
    """The figures for local days ``start``..``end`` (inclusive) for ``classes`` (None: all).

    ``now`` (aware) is the caller's clock: a day that has not ended yet has no
    overnight or missed collections. Raises ValueError if ``end`` is before ``start``.
    """
    check_range(start, end)
    zone = config.policy.zone
    now_naive = _naive(now)
    whole_school = classes is None
    pupils = _pupils(session, start, zone, classes)
    report = Report(
        start=start, end=end, whole_school=whole_school, generated_at=now.astimezone(zone),
        classes=sorted({p.class_name for p in pupils.values()} | set(classes or ())),
    )
    calendar = _Calendar.for_range(start, end, zone)
    days = calendar.days
    phones, refused, key = _events(session, calendar.starts[0], calendar.range_end)
    start_keys = [key(moment) for moment in calendar.starts] + [key(calendar.range_end)]
    late_after = [
        key(_local_instant(day, config.policy.collection_time(day.weekday()), zone) + LATE_AFTER)
        for day in days
    ]
    found = _fold(phones, start_keys, late_after, calendar, now_naive)

    refusals: Counter = Counter()
    for pupil_id, at, reason in refused:
        i = bisect_right(start_keys, at) - 1
        found.tapped.add(i)
        if i >= LOOKBACK_DAYS and (pupil_id in pupils or (pupil_id is None and whole_school)):
            refusals[(monday(days[i]), reason or "")] += 1
    report.refusals = refusals

    school = [i for i in sorted(found.tapped) if i >= LOOKBACK_DAYS and days[i].weekday() < 5]
    report.school_days = [days[i] for i in school]
    week_of = {i: monday(days[i]) for i in school}
    report.weeks = sorted(set(week_of.values()))
    _count(report, pupils, found, calendar, school, week_of, key, zone)
    report.overrides = (_overrides(session, calendar.range_start, calendar.range_end, zone)
                        if whole_school else [])
    report.approvals = _approvals(session, start, end, calendar.range_start, calendar.range_end,
                                  zone, classes)
    report.exceptions = exceptions_in_force(session, start, end, classes)
    return report


def _count(report: Report, pupils: dict[int, _Pupil], found: _Fold, calendar: _Calendar,
           school: list[int], week_of: dict[int, date], key, zone) -> None:
    """Allowed pupil-days, hand-ins by time and outcomes, per class and week, and totals."""
    days, starts = calendar.days, calendar.starts
    school_set = set(school)
    days_in_week: Counter = Counter(week_of.values())
    report.total.school_days = len(school)
    for week in report.weeks:
        report.by_week[week] = Counts(school_days=days_in_week[week])
    for name in report.classes:
        report.by_class[name] = Counts(school_days=len(school))
        for week in report.weeks:
            report.by_class_week[(name, week)] = Counts(school_days=days_in_week[week])

    for pupil in pupils.values():
        if pupil.always_allowed:
            for week in report.weeks:
                report.by_class_week[(pupil.class_name, week)].allowed += days_in_week[week]
        else:
            pupil.allowed_days = {i for i in school
                                  if pupil.allowed_on(days[i], starts[i], zone)}
            for i in pupil.allowed_days:
                report.by_class_week[(pupil.class_name, week_of[i])].allowed += 1

    def counts_for(pupil_id: int, i: int, *, allowed_only: bool) -> Counts | None:
        pupil = pupils.get(pupil_id)
        if pupil is None or i not in school_set:
            return None
        if allowed_only and pupil.allowed_days is not None and i not in pupil.allowed_days:
            return None
        return report.by_class_week[(pupil.class_name, week_of[i])]

    cut_first = {i: key(_local_instant(days[i], HAND_IN_BY[0], zone)) for i in school}
    cut_second = {i: key(_local_instant(days[i], HAND_IN_BY[1], zone)) for i in school}
    for (pupil_id, i), first_in in found.first_deposit.items():
        if (pupil_id, i) in found.in_at_start:
            continue  # counted below, as in the locker already
        counts = counts_for(pupil_id, i, allowed_only=True)
        if counts is None:
            continue
        counts.handed_in += 1
        if first_in <= cut_second[i]:
            counts.by_second += 1
            if first_in <= cut_first[i]:
                counts.by_first += 1
    for pupil_id, i in found.in_at_start:  # in the locker already: handed in by the first time
        counts = counts_for(pupil_id, i, allowed_only=True)
        if counts is not None:
            counts.handed_in += 1
            counts.by_second += 1
            counts.by_first += 1
    for (pupil_id, i), result in found.outcome.items():
        counts = counts_for(pupil_id, i, allowed_only=False)
        if counts is None:
            continue
        if result == ON_TIME:
            counts.collected += 1
        elif result == LATE:
            counts.late += 1
        elif result == MISSED:
            counts.missed += 1
        else:
            counts.overnight += 1

    for (name, week), counts in report.by_class_week.items():
        report.by_week[week].add(counts)
        report.by_class[name].add(counts)
        report.total.add(counts)


def _pupils(session: Session, start: date, zone, classes: list[str] | None) -> dict[int, _Pupil]:
    """Pupils on roll at some time in the range (and in ``classes``), with Year 5 approvals."""
    since = _naive(local_day_bounds(start, zone)[0])
    query = select(Pupil.id, Pupil.class_name, Pupil.year, Pupil.active, Pupil.left_at).where(
        or_(Pupil.active, Pupil.left_at > since)
    )
    if classes is not None:
        query = query.where(Pupil.class_name.in_(classes))
    pupils = {row.id: _Pupil(*row) for row in session.execute(query)}
    year5 = [p.id for p in pupils.values() if p.year == 5]
    if year5:
        approvals = select(
            Year5Approval.pupil_id, Year5Approval.approved_at, Year5Approval.until,
            Year5Approval.revoked_at,
        ).where(Year5Approval.pupil_id.in_(year5))
        for pupil_id, approved_at, until, revoked_at in session.execute(approvals):
            pupils[pupil_id].approvals.append(Approval(
                approved_at.replace(tzinfo=UTC), until,
                revoked_at.replace(tzinfo=UTC) if revoked_at else None,
            ))
    return pupils


def _overrides(session: Session, since: datetime, until: datetime, zone) -> list[OverrideRow]:
    rows = session.execute(
        select(Event.at, Event.locker_id, Event.bay, Event.actor, Event.reason, Locker.name)
        .outerjoin(Locker, Locker.id == Event.locker_id)
        .where(Event.kind == "override", Event.at >= since, Event.at < until)
        .order_by(Event.at, Event.id)
    )
    return [
        OverrideRow(at.replace(tzinfo=UTC).astimezone(zone), locker, bay, actor, reason,
                    place_words(name, None, locker))
        for at, locker, bay, actor, reason, name in rows
    ]


def _approvals(
    session: Session, start: date, end: date, since: datetime, until: datetime, zone,
    classes: list[str] | None,
) -> list[ApprovalRow]:
    """Year 5 approvals in force at some time in the range."""
    query = (
        select(Year5Approval, Pupil.name, Pupil.class_name)
        .join(Pupil, Pupil.id == Year5Approval.pupil_id)
        .where(
            Year5Approval.approved_at < until,
            or_(Year5Approval.revoked_at.is_(None), Year5Approval.revoked_at >= since),
            or_(Year5Approval.until.is_(None), Year5Approval.until >= start),
        )
        .order_by(Pupil.class_name, Pupil.name, Year5Approval.approved_at)
    )
    if classes is not None:
        query = query.where(Pupil.class_name.in_(classes))

    def local(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC).astimezone(zone) if moment else None

    found = sorted(session.execute(query).all(),
                   key=lambda r: (r.class_name, surname_key({"name": r.name})))
    return [
        ApprovalRow(name, class_name, approval.approved_by, local(approval.approved_at),
                    approval.until, local(approval.revoked_at), approval.revoked_by)
        for approval, name, class_name in found
    ]
