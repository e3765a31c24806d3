"""A seeded school week whose report figures are known, for the report tests.

Monday 30 March to Friday 3 April 2026, the first week of British Summer Time
(so a report reading UTC as local time gets the 08:45 line wrong by an hour).
Built with the project's writers (kiosk.school.pupils, kiosk.store.events.record_event) at
known times. Two classes:

6K (Year 6, collection 15:15, late after 15:45)
  Amara  hands in 08:30 and collects 15:20 every day; refused "too early" Wed 12:00
  Ben    Mon 08:50 (by 09:00), collected 15:50 (late); Tue 09:10 (later), collected
         15:30; Wed nothing; Thu 08:40, handed back by the office 16:00 (missed);
         Fri 08:44, collected 15:45:00 (on time: not *more* than 30 minutes);
         refused once with his cancelled card, Tue 08:00
  Cara   Mon 08:35, not collected (kept overnight), collected Tue 15:20 (so in the
         locker at the start of Tuesday: handed in by 08:45); Wed-Fri nothing
  Eli    left on Wednesday at 12:00: allowed Mon-Wed, never handed in
5R (Year 5)
  Grace  approved before the week; hands in 08:45:00 (by 08:45, just) and collects
         15:15 every day; also Fri 27 March, outside the range
  Harry  no approval: refused Mon and Tue
  Isla   refused Mon; approval agreed Wed 10:00; hands in Wed 10:30, collects 15:20
Cards nobody has: unknown card Mon and Wed, a phone (random ID) Thu.
Unlocks: Tue 11:00 every bay by "office", "fire drill"; Thu 09:30 bay 1 by
"mrs.p", "inhaler needed". Amara's Saturday tap (hand in and collect) is not a
school day; Monday 6 April is outside the range.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kiosk.school.pupils import add_pupil, approve_year5, update_pupil
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Bay, Locker, Pupil

ZONE = ZoneInfo("Europe/London")
MONDAY = date(2026, 3, 30)
FRIDAY = date(2026, 4, 3)
SUNDAY = date(2026, 4, 5)
LOCKER = "locker-1"
#: a "now" after the week, for build_report and the web app's CLOCK
AFTER = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)

#: class -> the figures the report must show for the week
EXPECTED = {
    "6K": {"allowed": 18, "by_first": 9, "by_second": 10, "handed_in": 11,
           "collected": 7, "late": 1, "missed": 1, "overnight": 1},
    "5R": {"allowed": 8, "by_first": 5, "by_second": 5, "handed_in": 6,
           "collected": 6, "late": 0, "missed": 0, "overnight": 0},
}
EXPECTED_ALL = {name: EXPECTED["6K"][name] + EXPECTED["5R"][name] for name in EXPECTED["6K"]}
EXPECTED_REFUSALS = {"year5_not_approved": 3, "too_early": 1, "card_revoked": 1,
                     "unknown_card": 2, "random_uid": 1}
EXPECTED_REFUSALS_6K = {"too_early": 1, "card_revoked": 1}


def at(day: date, hhmm: str, weekday_offset: int = 0) -> datetime:
    """Naive UTC of a local time on ``day`` (plus ``weekday_offset`` days)."""
    hour, minute, *second = (int(part) for part in hhmm.split(":"))
    local = datetime.combine(day + timedelta(days=weekday_offset),
                             time(hour, minute, *(second or [0])), tzinfo=ZONE)
    return local.astimezone(UTC).replace(tzinfo=None)


def day(n: int) -> date:
    """Monday is 0."""
    return MONDAY + timedelta(days=n)


def seed_week(session: Session) -> dict[str, int]:
    """Write the week into ``session`` (committed); return the pupils' ids by first name."""
    if session.get(Locker, LOCKER) is None:
        session.add(Locker(id=LOCKER, name="Year 6 locker", bays=[Bay(number=1)]))
    people = {
        "amara": ("Amara Okafor", 6, "6K", "04A1B2C3D4E5F6"),
        "ben": ("Ben Carter", 6, "6K", "04B0B0B0B0B0B0"),
        "cara": ("Cara Diaz", 6, "6K", "04C0C0C0C0C0C0"),
        "eli": ("Eli Novak", 6, "6K", "04E1E1E1E1E1E1"),
        "grace": ("Grace Mensah", 5, "5R", "04E5F60718293A"),
        "harry": ("Harry Lee", 5, "5R", "04F60718293A4B"),
        "isla": ("Isla Murphy", 5, "5R", "04151A151A151A"),
    }
    ids = {}
    for key, (name, year, class_name, uid) in people.items():
        ids[key] = add_pupil(session, name=name, year=year, class_name=class_name,
                             card_uid=uid, actor="seed").id
    cards = {key: value[3] for key, value in people.items()}

    def tap(kind: Kind, who: str | None, moment: datetime, **fields) -> None:
        record_event(session, kind, at=moment, pupil_id=ids[who] if who else None,
                     card_uid=cards[who] if who else fields.pop("uid"), locker_id=LOCKER,
                     bay=fields.pop("bay", 1), **fields)

    # The writers stamp approvals "now"; these were agreed before and during the week.
    grace = approve_year5(session, session.get(Pupil, ids["grace"]), by="Mrs Head")
    grace.approved_at = at(date(2026, 3, 2), "09:00")
    isla = approve_year5(session, session.get(Pupil, ids["isla"]), by="Mrs Head")
    isla.approved_at = at(day(2), "10:00")

    for n in range(5):
        tap(Kind.DEPOSIT, "amara", at(day(n), "08:30"))
        tap(Kind.COLLECT, "amara", at(day(n), "15:20"))
        tap(Kind.DEPOSIT, "grace", at(day(n), "08:45:00"))
        tap(Kind.COLLECT, "grace", at(day(n), "15:15"))
    tap(Kind.REFUSED, "amara", at(day(2), "12:00"), reason="too_early")

    tap(Kind.DEPOSIT, "ben", at(day(0), "08:50"))
    tap(Kind.COLLECT, "ben", at(day(0), "15:50"))
    tap(Kind.REFUSED, "ben", at(day(1), "08:00"), reason="card_revoked", bay=None)
    tap(Kind.DEPOSIT, "ben", at(day(1), "09:10"))
    tap(Kind.COLLECT, "ben", at(day(1), "15:30"))
    tap(Kind.DEPOSIT, "ben", at(day(3), "08:40"))
    tap(Kind.OFFICE_RETURN, "ben", at(day(3), "16:00"), actor="office",
        reason="handed to his dad")
    tap(Kind.DEPOSIT, "ben", at(day(4), "08:44"))
    tap(Kind.COLLECT, "ben", at(day(4), "15:45:00"))

    tap(Kind.DEPOSIT, "cara", at(day(0), "08:35"))
    tap(Kind.COLLECT, "cara", at(day(1), "15:20"))

    tap(Kind.REFUSED, "harry", at(day(0), "08:32"), reason="year5_not_approved", bay=None)
    tap(Kind.REFUSED, "harry", at(day(1), "08:33"), reason="year5_not_approved", bay=None)
    tap(Kind.REFUSED, "isla", at(day(0), "08:34"), reason="year5_not_approved", bay=None)
    tap(Kind.DEPOSIT, "isla", at(day(2), "10:30"))
    tap(Kind.COLLECT, "isla", at(day(2), "15:20"))

    tap(Kind.REFUSED, None, at(day(0), "08:31"), uid="04DEADBEEF0001", reason="unknown_card",
        bay=None)
    tap(Kind.REFUSED, None, at(day(2), "08:36"), uid="04DEADBEEF0002", reason="unknown_card",
        bay=None)
    tap(Kind.REFUSED, None, at(day(3), "08:37"), uid="08123456", reason="random_uid", bay=None)

    record_event(session, Kind.OVERRIDE, at=at(day(1), "11:00"), locker_id=LOCKER, bay=None,
                 actor="office", reason="fire drill")
    record_event(session, Kind.OVERRIDE, at=at(day(3), "09:30"), locker_id=LOCKER, bay=1,
                 actor="mrs.p", reason="inhaler needed")

    # Outside the school week: Saturday, the Friday before, the Monday after.
    tap(Kind.DEPOSIT, "amara", at(day(5), "10:00"))
    tap(Kind.COLLECT, "amara", at(day(5), "10:05"))
    tap(Kind.DEPOSIT, "grace", at(date(2026, 3, 27), "08:40"))
    tap(Kind.COLLECT, "grace", at(date(2026, 3, 27), "15:20"))
    tap(Kind.DEPOSIT, "ben", at(date(2026, 4, 6), "08:30"))
    tap(Kind.COLLECT, "ben", at(date(2026, 4, 6), "16:30"))

    eli = session.get(Pupil, ids["eli"])
    update_pupil(session, eli, actor="seed", active=False)
    eli.left_at = at(day(2), "12:00")
    session.commit()
    return ids
