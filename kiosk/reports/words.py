"""Internal codes as staff say them: one table for every code a person may read.

Every event kind (:class:`kiosk.store.events.Kind`), every refusal reason
(:class:`kiosk.policy.Refusal`), the states of a pupil's phone today
(``kiosk.school.queries.pupil_states``), a locker and bay, and the dates on
pages go through here, whoever shows them: the dashboard (as Jinja filters,
registered in ``web/__init__.py``), the History CSV, ``phonelocker events`` and
``phonelocker tap``, and the report. ``tests/test_words.py`` walks every
``Kind`` and ``Refusal`` member, so a new code cannot reach a person as a code.

The words are lower case phrases, because most are read inside a sentence
("refused — card not recognised"); :func:`sentence` starts one with a capital.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from kiosk.calendar.days import day_collection_time
from kiosk.config import Config
from kiosk.policy import REFUSAL_MESSAGES, Refusal
from kiosk.registers.exceptions import kind_words as exception_kind_words
from kiosk.store.events import Kind
from kiosk.timeutil import as_aware

#: event kind -> what happened, in staff words
KIND_WORDS: dict[str, str] = {
    Kind.DEPOSIT: "handed in",
    Kind.COLLECT: "collected",
    Kind.REOPEN: "opened again",
    Kind.REFUSED: "refused",
    Kind.OVERRIDE: "emergency unlock",
    Kind.ENROL: "card enrolled",
    Kind.FORCED_DOOR: "door forced open",
    Kind.CARD_REVOKED: "card cancelled",
    Kind.APPROVED: "Year 5 phone agreed",
    Kind.APPROVAL_REVOKED: "Year 5 agreement ended",
    Kind.EARLY_RELEASE: "early collection allowed",
    Kind.OFFICE_RETURN: "handed back by the office",
    Kind.KEPT_IN_OFFICE: "kept in the office",
    Kind.PUPIL_ADDED: "pupil added",
    Kind.PUPIL_UPDATED: "pupil details changed",
    Kind.IMPORT: "pupil list imported",
    Kind.USER_CREATED: "staff account created",
    Kind.USER_UPDATED: "staff account changed",
    Kind.LOGIN: "signed in",
    Kind.LOGIN_FAILED: "sign-in failed",
    Kind.READER_FAULT: "card reader fault",
    Kind.READER_OK: "card reader working again",
    Kind.KIOSK_STARTED: "locker started",
    Kind.KIOSK_STOPPED: "locker stopped",
    Kind.LOCKER_FORGOTTEN: "locker removed",
    Kind.COMMAND_EXPIRED: "unlock request not carried out in time",
    Kind.PURGE: "old records deleted",
    Kind.ROLLOVER: "new school year",
    Kind.EXCEPTION_ADDED: "exception agreed",
    Kind.EXCEPTION_ENDED: "exception ended",
    Kind.ARRANGEMENT_ADDED: "staff arrangement agreed",
    Kind.ARRANGEMENT_ENDED: "staff arrangement ended",
    Kind.CALENDAR_SET: "school calendar day set",
    Kind.CALENDAR_CLEARED: "school calendar day cleared",
    Kind.CLOSING_EARLY: "school closing early",
    Kind.OPEN_ALL: "every bay opened",
    Kind.SYNC_CONFLICT: "found offline: disagrees with the office's records",
    Kind.SYNC_JOINED: "locker joined the school's central database",
    Kind.SYNC_BACK_ONLINE: "locker back in touch with the central database",
}

#: the kinds an event about a pupil can have: the only ones a teacher sees (web/access.py
#: scopes events to the pupils of a teacher's classes; the others have no pupil)
PUPIL_KINDS: frozenset[str] = frozenset({
    Kind.DEPOSIT, Kind.COLLECT, Kind.REOPEN, Kind.REFUSED, Kind.OVERRIDE, Kind.ENROL,
    Kind.CARD_REVOKED, Kind.APPROVED, Kind.APPROVAL_REVOKED, Kind.EARLY_RELEASE,
    Kind.OFFICE_RETURN, Kind.KEPT_IN_OFFICE, Kind.PUPIL_ADDED, Kind.PUPIL_UPDATED,
    Kind.EXCEPTION_ADDED, Kind.EXCEPTION_ENDED,
})

#: refusal reason code -> why, in staff words (``too_early`` with the time: see
#: :func:`refusal_words`)
REFUSAL_WORDS: dict[str, str] = {
    Refusal.RANDOM_UID: "a phone or bank card, not a pupil card",
    Refusal.UNKNOWN_CARD: "card not recognised",
    Refusal.CARD_REVOKED: "card cancelled",
    Refusal.PUPIL_INACTIVE: "pupil has left",
    Refusal.YEAR_NOT_ALLOWED: "year group not allowed a phone",
    Refusal.YEAR5_NOT_APPROVED: "Year 5 without agreement",
    Refusal.TOO_EARLY: "too early to collect",
    Refusal.NO_BAY: "no bay assigned",
    Refusal.IN_OTHER_LOCKER: "phone already in another locker",
}
TOO_EARLY_AT = "collection opens {opens_at:%H:%M}"

#: a pupil's phone today (``pupil_states`` ``state``) -> staff words
STATE_WORDS: dict[str, str] = {
    "not_handed_in": "not handed in",
    "in_locker": "in locker",
    "collected": "collected",
    "school_closed": "no school today",
}

#: an event recorded while the kiosk's clock was not yet set (``clock_suspect``)
CLOCK_SUSPECT_WORDS = "clock not yet set"

#: the kiosk's ``last_tap_result`` when it is not a refusal -> staff words
TAP_RESULT_WORDS: dict[str, str] = {
    "deposit": KIND_WORDS[Kind.DEPOSIT],
    "collect": KIND_WORDS[Kind.COLLECT],
    "reopen": KIND_WORDS[Kind.REOPEN],
    "enrolled": KIND_WORDS[Kind.ENROL],
    "error": "something went wrong",
}


def _plain(code: str) -> str:
    """An unknown code as words (a newer kiosk's code): underscores become spaces."""
    return code.replace("_", " ")


def sentence(words: str) -> str:
    """``words`` starting with a capital (a heading, a table row), the rest unchanged."""
    return words[:1].upper() + words[1:]


def kind_words(kind: str | None) -> str:
    """What an event of ``kind`` is, in staff words ("" for none)."""
    if not kind:
        return ""
    return KIND_WORDS.get(kind) or _plain(kind)


def refusal_words(code: str | None, opens_at: time | None = None) -> str:
    """Why a tap was refused; ``too_early`` says the time when ``opens_at`` is known."""
    if not code:
        return "no reason recorded"
    if code == Refusal.TOO_EARLY and opens_at is not None:
        return TOO_EARLY_AT.format(opens_at=opens_at)
    return REFUSAL_WORDS.get(code) or _plain(code)


def refusal_message(code: str, opens_at: time | None) -> str:
    """What the kiosk told the pupil for refusal ``code`` (kiosk/policy.py
    ``REFUSAL_MESSAGES``); the staff words when the code or the time is unknown."""
    try:
        template = REFUSAL_MESSAGES[Refusal(code)]
    except ValueError:
        return refusal_words(code)
    if "{opens_at" in template and opens_at is None:
        return refusal_words(code)
    return template.format(opens_at=opens_at)


def override_words(bay: int | None) -> str:
    """An ``override`` event: one bay ("Emergency unlock") or every bay ("Open all")."""
    return "Open all" if bay is None else "Emergency unlock"


def event_words(kind: str | None, reason: str | None = None, *,
                opens_at: time | None = None) -> str:
    """An event's "what" in staff words: its kind, and for a refusal why
    ("refused — collection opens 15:15"). ``reason`` is only read for a refusal
    (elsewhere it is free text a person wrote, shown as it is)."""
    if kind == Kind.REFUSED:
        return f"{KIND_WORDS[Kind.REFUSED]} — {refusal_words(reason, opens_at)}"
    return kind_words(kind)


#: the fields a ``pupil_updated`` event's reason names -> staff words
CHANGED_FIELD_WORDS: dict[str, str] = {
    "active": "back on roll",
    "deactivated": "left the school",
    "external_id": "school MIS id",
}


def reason_words(kind: str | None, reason: str | None) -> str:
    """An event's reason as staff read it beside its :func:`event_words`: "" for a
    refusal (its reason is in the "what"), the changed fields of a pupil in words, else
    the reason as written ("" for none)."""
    if not reason or kind == Kind.REFUSED:
        return ""
    if kind == Kind.PUPIL_UPDATED:
        return ", ".join(CHANGED_FIELD_WORDS.get(field, field)
                         for field in reason.split(", "))
    return reason


def tap_result_words(result: str | None, opens_at: time | None = None) -> str:
    """The kiosk's ``last_tap_result`` ("deposit", "refused: too_early", ...) in staff words."""
    if not result:
        return ""
    if result.startswith("refused: "):
        code = result.removeprefix("refused: ")
        return f"{KIND_WORDS[Kind.REFUSED]} — {refusal_words(code, opens_at)}"
    return TAP_RESULT_WORDS.get(result) or _plain(result)


def tap_outcome_words(kind: str, bay: int | None, reason: str | None,
                      opens_at: time | None = None) -> str:
    """What happened at the locker on a tap, from the event the kiosk recorded:
    "handed in: bay 1", "refused: " and the kiosk's own words to the pupil."""
    if kind == Kind.REFUSED:
        return f"{KIND_WORDS[Kind.REFUSED]}: {refusal_message(reason or '', opens_at)}"
    words = kind_words(kind)
    return f"{words}: bay {bay}" if bay is not None else words


def state_words(state: str | None) -> str:
    """A ``pupil_states`` state code in staff words."""
    if not state:
        return ""
    return STATE_WORDS.get(state) or _plain(state)


def exception_words(kind: str | None) -> str:
    """An agreed exception's kind ("medical", "SEND", ...)."""
    return exception_kind_words(kind) if kind else ""


def place_words(locker_name: str | None, bay: int | None = None,
                locker_id: str | None = None) -> str:
    """Where: "Class 6K locker, bay 1" (the locker's name from the lockers table; its id
    only when the locker is gone), "bay 1" with no locker, "" for nowhere."""
    name = locker_name or locker_id or ""
    if bay is None:
        return name
    return f"{name}, bay {bay}" if name else f"bay {bay}"


def date_range_words(start: date, end: date, today: date | None = None) -> str:
    """A range of days as a school writes it: "Tuesday 1 December" for one day,
    "1–30 November", "30 November – 4 December"; the year as :func:`school_date` adds it."""
    if start == end:
        return school_date(start, today)
    year = "" if today is not None and start.year == end.year == today.year else f" {end.year}"
    if start.year != end.year:
        return f"{start.day} {start:%B} {start.year} – {end.day} {end:%B} {end.year}"
    if start.month == end.month:
        return f"{start.day}–{end.day} {end:%B}{year}"
    return f"{start.day} {start:%B} – {end.day} {end:%B}{year}"


def school_date(value: date | datetime | str | None, today: date | None = None) -> str:
    """A date as a school writes it: "Tuesday 1 December", with the year when it is not
    ``today``'s year (or when ``today`` is not given). An ISO string is read first; a
    datetime is taken as it is (convert it to the school's zone before)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    text = f"{value:%A} {value.day} {value:%B}"
    return text if today is not None and value.year == today.year else f"{text} {value.year}"


class CollectionTimes:
    """The collection time of each local date (the calendar's, else ``[policy]``'s),
    read once per date: for saying "collection opens 15:15" on a list of refusals."""

    def __init__(self, executor: Any, config: Config,
                 known: dict[date, time] | None = None) -> None:
        """``executor``: a Session or Connection to read the calendar with; ``known``: the
        times already read (shared by readers of one list in several transactions)."""
        self._executor = executor
        self._config = config
        self._times: dict[date, time] = {} if known is None else known

    def on(self, moment: datetime) -> time:
        """The collection time of the local day of ``moment`` (stored naive UTC or aware)."""
        aware = moment if moment.tzinfo is not None else as_aware(moment)
        day = aware.astimezone(self._config.policy.zone).date()
        if day not in self._times:
            self._times[day] = day_collection_time(self._executor, self._config.policy, day)
        return self._times[day]

    def event_words(self, kind: str | None, reason: str | None, at: datetime | None) -> str:
        """:func:`event_words` with the day's collection time for a too-early refusal."""
        opens_at = (self.on(at) if kind == Kind.REFUSED and reason == Refusal.TOO_EARLY
                    and at is not None else None)
        return event_words(kind, reason, opens_at=opens_at)
