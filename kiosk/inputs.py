"""Checking what people type: database ids, dates, text and bay numbers.

One place for the bounds, shared by the CLI (click types in :mod:`kiosk.cli.base`),
the dashboard (:mod:`web.helpers`) and :mod:`kiosk.school.pupils`. Each check raises
:class:`InputError` with a message fit to show the user; the caller turns it
into a 400, a one-line CLI error or a refused form. Nothing here imports the
rest of the package at import time, so every layer may use it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date

#: database ids are 64-bit signed integers (SQLite INTEGER, PostgreSQL BIGINT/INTEGER);
#: anything outside 1..MAX_DB_ID names no row, and SQLite's driver overflows on it
MAX_DB_ID = 2**63 - 1
#: digits of MAX_DB_ID: a longer number is refused before int() (which has its own limit)
MAX_DB_ID_DIGITS = len(str(MAX_DB_ID))

#: the days a school date may name; wide enough for any real use, narrow enough that
#: adding a day or converting to a zone never overflows ``date``
MIN_DAY = date(2000, 1, 1)
MAX_DAY = date(2100, 12, 31)

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


class InputError(ValueError):
    """A value a person typed is malformed or out of range; the message says which and why."""


def parse_int(text: str, what: str, *, minimum: int, maximum: int) -> int:
    """A whole number (ASCII digits) within ``minimum..maximum``, else :class:`InputError`."""
    raw = (text or "").strip()
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise InputError(f"{what} must be a whole number, got {_show(raw)}")
    if len(raw.lstrip("+-").lstrip("0")) > MAX_DB_ID_DIGITS:
        # far out of any range here, and int() of thousands of digits raises on its own
        raise InputError(f"{what} must be between {minimum} and {maximum}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InputError(f"{what} must be between {minimum} and {maximum}, got {value}")
    return value


def parse_db_id(text: str, what: str = "id") -> int:
    """A database id: a whole number in ``1..MAX_DB_ID``."""
    return parse_int(text, what, minimum=1, maximum=MAX_DB_ID)


def parse_day(text: str, what: str = "date") -> date:
    """A ``YYYY-MM-DD`` date between :data:`MIN_DAY` and :data:`MAX_DAY`."""
    raw = (text or "").strip()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{what} {_show(raw)} is not a date YYYY-MM-DD") from None
    if not MIN_DAY <= day <= MAX_DAY:
        raise InputError(f"{what} {raw} is out of range ({MIN_DAY} to {MAX_DAY})")
    return day


def control_characters(text: str) -> list[str]:
    """The control characters (Unicode category Cc: NUL, ESC, newline, DEL…) in ``text``."""
    return [char for char in text if unicodedata.category(char) == "Cc"]


def check_text(text: str, what: str) -> str:
    """``text`` unchanged if it has no control characters; they would corrupt lists,
    CSV exports and terminals, and a name or reason never needs one."""
    found = control_characters(text or "")
    if found:
        codes = ", ".join(sorted({f"U+{ord(char):04X}" for char in found}))
        raise InputError(f"{what} must not contain control characters ({codes})")
    return text


def check_bay(bay: int | None, bays: Iterable[int], what: str = "bay") -> int | None:
    """``bay`` if it is None or one of the locker's ``bays``; else :class:`InputError`."""
    if bay is None:
        return None
    numbers = sorted(set(bays))
    if bay not in numbers:
        listed = ", ".join(str(number) for number in numbers) or "none"
        raise InputError(f"{what} {bay} does not exist on the locker (bays: {listed})")
    return bay


def _show(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, shortened: an error must not echo a megabyte back."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


# --- email addresses (config [notify], staff accounts) ------------------------------

MAX_ADDRESS_LENGTH = 254
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def is_address(text: str) -> bool:
    """True if ``text`` (already stripped) looks like ``name@school.example``.

    Shape only (``local@domain.tld``, no spaces, no display name); whether the
    mailbox exists is the mail server's business.
    """
    return len(text) <= MAX_ADDRESS_LENGTH and bool(_ADDRESS.match(text)) and ".." not in text


def clean_address(text: str) -> str:
    """``text`` stripped, or :class:`InputError` saying what an address looks like."""
    address = (text or "").strip()
    if not is_address(address):
        raise InputError(f"{text!r} is not an email address (like office@school.example)")
    return address
