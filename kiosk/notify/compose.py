"""The words of each notice: pure functions, facts in, (subject, body) out.

Privacy rules, checked by ``tests/test_notify_compose.py``:

- a subject never holds a pupil's name (subjects show on lock screens and in
  notification pop-ups); it may hold a class, a count, a locker, a time;
- a body names pupils only of the classes its reader may see
  (:attr:`Reader.classes`: a teacher's classes; ``None`` for the office);
- fault and alarm notices name no pupil at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

PREFIX = "Phone Locker"
SIGNATURE = (
    "\n--\nSent by Phone Locker (phonelocker notify). Who receives these is set in\n"
    "[notify] of the config file and on staff accounts' email addresses.\n"
)


@dataclass(frozen=True)
class Reader:
    """Who a notice is for: an address and the classes they may see (None: all)."""

    address: str
    classes: frozenset[str] | None = None

    def may_see(self, class_name: str) -> bool:
        return self.classes is None or class_name in self.classes


@dataclass(frozen=True)
class HeldPhone:
    """A phone in a locker, as a notice describes it. ``since`` is local time."""

    pupil_name: str
    class_name: str
    since: datetime
    locker_name: str
    bay: int


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _phones(count: int) -> str:
    return "1 phone" if count == 1 else f"{count} phones"


def _phone_lines(phones: Iterable[HeldPhone], today: date) -> list[str]:
    lines: list[str] = []
    current = None
    for phone in sorted(phones, key=lambda p: (p.class_name, p.pupil_name, p.since)):
        if phone.class_name != current:
            current = phone.class_name
            lines.append(f"\nClass {current}:")
        since = (
            f"since {phone.since:%H:%M}" if phone.since.date() == today
            else f"since {_day(phone.since.date())} {phone.since:%H:%M} (overnight)"
        )
        lines.append(f"  - {phone.pupil_name}: {phone.locker_name}, bay {phone.bay}, {since}")
    return lines


def not_collected(
    reader: Reader, phones: list[HeldPhone], *, day: date, collect_from: time, minutes: int
) -> Message | None:
    """Phones still in a locker ``minutes`` after collection time; None if none is visible."""
    visible = [phone for phone in phones if reader.may_see(phone.class_name)]
    if not visible:
        return None
    classes = sorted({phone.class_name for phone in visible})
    which = f"class {classes[0]}" if len(classes) == 1 else f"{len(classes)} classes"
    subject = (
        f"{PREFIX}: {_phones(len(visible))} not collected ({which}), {_day(day)}"
    )
    body = [
        f"{_phones(len(visible)).capitalize()} still in the locker {minutes} minutes after "
        f"collection time ({collect_from:%H:%M}) on {_day(day)}:",
        *_phone_lines(visible, day),
        "",
        "The pupils can still collect them by tapping their card. The office can return",
        "a phone by hand (dashboard, Office page).",
    ]
    return Message(subject, "\n".join(body) + "\n" + SIGNATURE)


def overnight(reader: Reader, phones: list[HeldPhone], *, day: date) -> Message | None:
    """Phones kept in a locker since before ``day``; None if none is visible."""
    visible = [phone for phone in phones if reader.may_see(phone.class_name)]
    if not visible:
        return None
    subject = f"{PREFIX}: {_phones(len(visible))} kept overnight, {_day(day)}"
    body = [
        f"{_phones(len(visible)).capitalize()} stayed in the locker overnight and "
        f"{'is' if len(visible) == 1 else 'are'} still there this morning ({_day(day)}):",
        *_phone_lines(visible, day),
        "",
        "They stay locked until the pupil taps their card or the office returns them.",
    ]
    return Message(subject, "\n".join(body) + "\n" + SIGNATURE)


FAULTS = {
    "offline": "kiosk offline",
    "reader": "card reader fault",
}


def fault(locker_name: str, what: str, since: datetime) -> Message:
    """A kiosk offline (no heartbeat) or its reader faulty since ``since`` (local)."""
    label = FAULTS[what]
    subject = f"{PREFIX}: {locker_name}: {label} since {since:%H:%M}"
    if what == "offline":
        detail = (
            f"{locker_name} has not reported since {since:%H:%M} on {_day(since.date())}.\n"
            "Pupils cannot hand in or collect phones there until it is back.\n\n"
            "Check that the Pi has power and network, then on it:\n"
            "  systemctl status phonelocker-kiosk\n  phonelocker doctor\n"
        )
    else:
        detail = (
            f"The card reader of {locker_name} has not worked since {since:%H:%M} on "
            f"{_day(since.date())}. The red light blinks slowly; taps are not read.\n\n"
            "Check the reader's USB cable or UART wiring; the kiosk reopens it by itself.\n"
            "  phonelocker doctor\n"
        )
    return Message(subject, detail + "\nA second email follows when it recovers.\n" + SIGNATURE)


def recovered(locker_name: str, what: str, since: datetime, at: datetime) -> Message:
    """The fault reported by :func:`fault` is over (both times local)."""
    label = FAULTS[what]
    subject = f"{PREFIX}: {locker_name}: recovered ({label} since {since:%H:%M})"
    minutes = max(0, round((at - since).total_seconds() / 60))
    body = (
        f"{locker_name} is working again at {at:%H:%M} on {_day(at.date())}, after a "
        f"{label} from {since:%H:%M} (about {minutes} minutes).\n"
    )
    return Message(subject, body + SIGNATURE)


ALARMS = {
    "forced_door": "door forced open",
    "override": "emergency unlock",
}


def alarm(
    kind: str, *, locker_name: str, bay: int | None, at: datetime, actor: str | None,
    reason: str | None,
) -> Message:
    """A door opened while locked, or an emergency unlock (``at`` local)."""
    label = ALARMS[kind]
    where = f"bay {bay}" if bay is not None else "every bay"
    subject = f"{PREFIX}: {locker_name}: {label} ({where}) at {at:%H:%M}"
    if kind == "forced_door":
        lines = [
            f"A door of {locker_name} ({where}) was opened at {at:%H:%M} on "
            f"{_day(at.date())} while its lock was locked.",
            "Check the locker and its phones; the dashboard's History page has the record.",
        ]
    else:
        lines = [
            f"{locker_name} ({where}) was unlocked in an emergency at {at:%H:%M} on "
            f"{_day(at.date())}.",
            f"By: {actor or 'unknown'}",
            f"Reason: {reason or 'none given'}",
        ]
    return Message(subject, "\n".join(lines) + "\n" + SIGNATURE)
