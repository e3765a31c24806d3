"""The school's phone rules as a pure function: facts and ``now`` in, a decision out.

Nothing here reads a clock, a database or a pin. :func:`decide` is the one
place a tap is decided; ``tests/test_policy.py`` checks it with tables.

The rules (from the school's mobile phone policy):

* Only Year 6 pupils may hand in a phone; Year 5 pupils only while a senior
  leadership team approval is in force. Anyone else, an inactive pupil, an
  unknown or revoked card, or a random-ID card is refused.
* No phone in the locker: the tap is a deposit. A phone in the locker: the
  tap is a collection, allowed from the day's collection time or earlier with
  an early release recorded for today.
* A repeat tap within the grace period of a deposit or collection re-opens
  the bay for the same action and changes nothing else.
* A tap within the debounce period of the same card's previous tap is ignored.
* A phone kept overnight stays where it is and is flagged; eligibility is
  never needed to take one's own phone back.
* The school calendar (a :class:`SchoolDay`, passed in as a fact) moves the
  day's collection time (an early finish, closing early) or closes the day:
  on a closed day a phone may be collected at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from kiosk.config import PolicyConfig


class Action(StrEnum):
    DEPOSIT = "deposit"
    COLLECT = "collect"
    REOPEN = "reopen"
    REFUSE = "refuse"
    IGNORE = "ignore"


class Refusal(StrEnum):
    RANDOM_UID = "random_uid"
    UNKNOWN_CARD = "unknown_card"
    CARD_REVOKED = "card_revoked"
    PUPIL_INACTIVE = "pupil_inactive"
    YEAR_NOT_ALLOWED = "year_not_allowed"
    YEAR5_NOT_APPROVED = "year5_not_approved"
    TOO_EARLY = "too_early"
    NO_BAY = "no_bay"
    #: the phone is recorded in another locker of the school (kiosk/sync)
    IN_OTHER_LOCKER = "in_other_locker"


#: What the pupil is told when a tap is refused (``{opens_at}``: the day's collection time).
REFUSAL_MESSAGES: dict[Refusal, str] = {
    Refusal.RANDOM_UID: "This card has a random ID (a phone or bank card?): use your card",
    Refusal.UNKNOWN_CARD: "Card not recognised: see the office",
    Refusal.CARD_REVOKED: "This card has been cancelled: see the office",
    Refusal.PUPIL_INACTIVE: "Card not in use: see the office",
    Refusal.YEAR_NOT_ALLOWED: "Only Year 6 may bring a phone",
    Refusal.YEAR5_NOT_APPROVED: "Year 5 phones need agreement from the school first",
    Refusal.TOO_EARLY: "Collection opens at {opens_at:%H:%M}",
    Refusal.NO_BAY: "No bay assigned: see the office",
    Refusal.IN_OTHER_LOCKER: "Your phone is in {locker}",
}

#: What the pupil is told when the lock opens, by action.
ACCEPT_MESSAGES: dict[str, str] = {
    Action.DEPOSIT: "Put your phone in",
    Action.COLLECT: "Collect your phone",
    Action.REOPEN: "Opening again",
    "enrolled": "Card enrolled",
}


@dataclass(frozen=True)
class Approval:
    """A Year 5 approval; in force from ``approved_at`` to the end of ``until``."""

    approved_at: datetime
    until: date | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class PupilFacts:
    id: int
    year: int
    active: bool = True
    bay: int | None = None
    approvals: tuple[Approval, ...] = ()
    #: local dates with an early release recorded
    early_release_dates: frozenset[date] = frozenset()


@dataclass(frozen=True)
class LastAction:
    """The pupil's most recent deposit or collection (a reopen is not one)."""

    kind: str  # "deposit" | "collect"
    at: datetime
    bay: int


@dataclass(frozen=True)
class SchoolDay:
    """The school calendar's entry for one local date (none: the ``[policy]`` times apply)."""

    on_date: date
    closed: bool = False
    #: local collection time for the day; None on a closed day
    collect_from: time | None = None
    reason: str = ""


def collection_time(rules: PolicyConfig, day: date, school_day: SchoolDay | None) -> time:
    """When phones may be collected on local ``day``: the calendar's time when it sets
    one, any time on a closed day, else the ``[policy]`` time for that weekday.

    An entry for another date is ignored (a kiosk's cached entry from before midnight)."""
    if school_day is not None and school_day.on_date == day:
        if school_day.closed:
            return time.min
        if school_day.collect_from is not None:
            return school_day.collect_from
    return rules.collection_time(day.weekday())


@dataclass(frozen=True)
class TapFacts:
    """Everything :func:`decide` may consider. Datetimes are timezone-aware."""

    uid: str
    card_known: bool = False
    card_active: bool = False
    pupil: PupilFacts | None = None
    #: (since, bay) of the phone in the locker, if any
    holding_since: datetime | None = None
    holding_bay: int | None = None
    last_action: LastAction | None = None
    previous_tap_at: datetime | None = None
    locker_bays: tuple[int, ...] = (1,)
    #: the calendar's entry for today (local), if any
    school_day: SchoolDay | None = None
    #: the name of the other locker the phone is recorded in (None: not elsewhere)
    holding_elsewhere: str | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    bay: int | None = None
    reason: str | None = None
    #: for a reopen: the action being repeated
    repeats: str | None = None
    #: for a refusal because it is too early: when collection opens (local)
    opens_at: time | None = None
    #: the phone has been in the locker since before today (local)
    overnight: bool = False
    message: str = ""

    @property
    def opens_lock(self) -> bool:
        return self.action in (Action.DEPOSIT, Action.COLLECT, Action.REOPEN)


def is_random_uid(uid: str) -> bool:
    """A 4-byte UID starting 0x08 is a random ID (phones, bank cards): it changes each tap."""
    return len(uid) == 8 and uid[:2] == "08"


def approval_in_force(approvals: tuple[Approval, ...], now: datetime, zone) -> bool:
    today = now.astimezone(zone).date()
    for approval in approvals:
        if approval.revoked_at is not None and approval.revoked_at <= now:
            continue
        if approval.approved_at > now:
            continue
        if approval.until is not None and approval.until < today:
            continue
        return True
    return False


def _refuse(reason: Refusal, **extra) -> Decision:
    message = REFUSAL_MESSAGES[reason].format(opens_at=extra.get("opens_at"))
    return Decision(Action.REFUSE, reason=reason.value, message=message, **extra)


def _bay_for(facts: TapFacts) -> int | None:
    pupil = facts.pupil
    if pupil is not None and pupil.bay is not None and pupil.bay in facts.locker_bays:
        return pupil.bay
    if len(facts.locker_bays) == 1:
        return facts.locker_bays[0]
    return None


def decide(facts: TapFacts, now: datetime, rules: PolicyConfig) -> Decision:
    """Decide what a tap does. ``now`` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = rules.zone
    local_now = now.astimezone(zone)

    if facts.previous_tap_at is not None:
        since_previous = (now - facts.previous_tap_at).total_seconds()
        if 0 <= since_previous < rules.debounce_seconds:
            return Decision(Action.IGNORE, reason="debounce")

    if is_random_uid(facts.uid):
        return _refuse(Refusal.RANDOM_UID)
    if not facts.card_known or facts.pupil is None:
        return _refuse(Refusal.UNKNOWN_CARD)
    if not facts.card_active:
        return _refuse(Refusal.CARD_REVOKED)
    pupil = facts.pupil
    if not pupil.active:
        return _refuse(Refusal.PUPIL_INACTIVE)

    if facts.holding_since is not None and facts.holding_elsewhere is not None:
        # Collect it there, and do not hand a second phone in here.
        return Decision(
            Action.REFUSE,
            reason=Refusal.IN_OTHER_LOCKER.value,
            message=REFUSAL_MESSAGES[Refusal.IN_OTHER_LOCKER].format(
                locker=locker_phrase(facts.holding_elsewhere)
            ),
        )

    overnight = (
        facts.holding_since is not None
        and facts.holding_since.astimezone(zone).date() < local_now.date()
    )

    last = facts.last_action
    if last is not None and 0 <= (now - last.at).total_seconds() < rules.grace_seconds:
        still_consistent = (last.kind == "deposit") == (facts.holding_since is not None)
        if still_consistent:
            verb = "hand in" if last.kind == "deposit" else "collect"
            return Decision(
                Action.REOPEN,
                bay=last.bay,
                repeats=last.kind,
                overnight=overnight,
                message=f"Opening again to {verb}",
            )

    if facts.holding_since is not None:
        bay = facts.holding_bay if facts.holding_bay is not None else _bay_for(facts)
        opens_at = collection_time(rules, local_now.date(), facts.school_day)
        released = local_now.date() in pupil.early_release_dates
        if local_now.time() >= opens_at or released:
            return Decision(
                Action.COLLECT,
                bay=bay,
                reason="early_release" if local_now.time() < opens_at else None,
                overnight=overnight,
                message=ACCEPT_MESSAGES[Action.COLLECT],
            )
        return _refuse(Refusal.TOO_EARLY, opens_at=opens_at, overnight=overnight)

    if pupil.year == 5:
        if not approval_in_force(pupil.approvals, now, zone):
            return _refuse(Refusal.YEAR5_NOT_APPROVED)
    elif pupil.year != 6:
        return _refuse(Refusal.YEAR_NOT_ALLOWED)

    bay = _bay_for(facts)
    if bay is None:
        return _refuse(Refusal.NO_BAY)
    return Decision(Action.DEPOSIT, bay=bay, message=ACCEPT_MESSAGES[Action.DEPOSIT])


def locker_phrase(name: str) -> str:
    """A locker's name as a pupil reads it: "6K" -> "the 6K locker"."""
    name = name.strip()
    if not name.lower().endswith("locker"):
        name = f"{name} locker"
    return name if name.lower().startswith("the ") else f"the {name}"


def local_day_bounds(day: date, zone) -> tuple[datetime, datetime]:
    """The UTC-aware start and end of a local school day (DST-aware)."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def tap_message(result: str, opens_at: time) -> tuple[str, str]:
    """(tone, words) for a pupil from a tap's result as the kiosk reports it.

    ``result`` is the kiosk's ``last_tap_result`` ("deposit", "collect",
    "reopen", "enrolled", "refused: REASON" or "error"); ``opens_at`` is that
    day's collection time. ``tone`` is ``ok``, ``refused`` or ``fault``.
    """
    if result in ACCEPT_MESSAGES:
        return "ok", ACCEPT_MESSAGES[result]
    if result.startswith("refused: "):
        try:
            template = REFUSAL_MESSAGES[Refusal(result.removeprefix("refused: "))]
        except ValueError:
            template = "Not accepted: see your teacher"
        return "refused", template.format(opens_at=opens_at, locker="another locker")
    return "fault", "Something went wrong: try again, or see your teacher"


@dataclass(frozen=True)
class Period:
    """The days a register entry (a pupil's exception, a staff arrangement) covers.

    ``ended_on`` is the local day it was ended early, if it was: an entry
    ended on a day no longer applies on that day.
    """

    starts_on: date
    until: date | None = None
    ended_on: date | None = None


#: how far ahead the office is told of an exception's review date
REVIEW_NOTICE_DAYS = 14


def exception_in_force(period: Period, day: date) -> bool:
    """Whether an entry applies on ``day``: started, not past ``until``, not ended by then.

    ``until`` is the last day it applies (inclusive); past it the entry stops
    applying by itself.
    """
    if period.starts_on > day:
        return False
    if period.until is not None and day > period.until:
        return False
    return period.ended_on is None or period.ended_on > day


def review_due(review_on: date | None, day: date, notice_days: int = REVIEW_NOTICE_DAYS) -> bool:
    """A review date that has passed or falls within ``notice_days`` of ``day``."""
    return review_on is not None and review_on <= day + timedelta(days=notice_days)
