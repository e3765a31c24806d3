"""Small shared pieces: the app's state, the clock, form parsing and time formatting."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from flask import abort, current_app, request
from werkzeug.routing import IntegerConverter

from kiosk.config import Config
from kiosk.inputs import (
    MAX_DB_ID,
    MAX_DB_ID_DIGITS,
    InputError,
    check_text,
    parse_day,
    parse_int,
)
from kiosk.store.db import Database
from kiosk.timeutil import aware_utc_now
from web.security import LoginLimiter
from web.today_cache import TodayCache


@dataclass
class AppState:
    """What the blueprints share, kept in ``app.extensions["phonelocker"]``."""

    config: Config
    db: Database
    limiter: LoginLimiter
    import_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    clock: Callable[[], datetime] = aware_utc_now
    #: the Today views of the last event id (:mod:`web.today_cache`)
    today_cache: TodayCache = field(default_factory=TodayCache)


def state() -> AppState:
    return current_app.extensions["phonelocker"]


def config() -> Config:
    return state().config


def now() -> datetime:
    """The current time, timezone-aware (tests may set ``CLOCK`` in the app config)."""
    return state().clock()


def local(moment: datetime | None) -> datetime | None:
    """A stored naive-UTC time (or an aware one) in the school's zone."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(config().policy.zone)


def format_hhmm(value: str | datetime | None) -> str:
    """``HH:MM`` from an ISO string in local time (as kiosk.school.queries gives)
    or a stored time."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[11:16]
    return local(value).strftime("%H:%M")


def format_when(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in the school's zone."""
    moment = local(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


class DbIdConverter(IntegerConverter):
    """``<id:name>`` in a URL: a database id, 1..2^63-1; anything else is a 404.

    Werkzeug's ``int`` converter takes any length of digits, and an id past
    SQLite's 64 bits overflowed in the driver (a 500).
    """

    regex = rf"[0-9]{{1,{MAX_DB_ID_DIGITS}}}"  # ASCII only: \d also matches other scripts

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, min=1, max=MAX_DB_ID)


def bad_request(error: InputError):
    """Abort with 400 and the input error's message."""
    abort(400, str(error))


def form_text(name: str, *, max_length: int = 500) -> str:
    """A stripped text field; 400 if absurdly long or if it holds control characters."""
    value = request.form.get(name, "").strip()
    if len(value) > max_length:
        abort(400, f"{name} is too long")
    try:
        return check_text(value, name)
    except InputError as error:
        bad_request(error)


def arg_text(name: str, *, max_length: int = 200) -> str:
    """A query argument as text ("" if absent); 400 if too long or holding control characters
    (which no filter value has, and PostgreSQL refuses NUL in a string)."""
    value = request.args.get(name, "")
    if len(value) > max_length:
        abort(400, f"{name} is too long")
    try:
        return check_text(value, name)
    except InputError as error:
        bad_request(error)


def form_int(
    name: str, *, source: dict | None = None, minimum: int = -MAX_DB_ID, maximum: int = MAX_DB_ID
) -> int | None:
    """An optional whole number from the form (or ``source``) within ``minimum..maximum``;
    400 with a message if it is not one."""
    raw = (source if source is not None else request.form).get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_int(raw, name, minimum=minimum, maximum=maximum)
    except InputError as error:
        bad_request(error)


def form_id(name: str, *, source: dict | None = None, required: bool = False) -> int | None:
    """An optional database id from the form (or ``source``): 1..2^63-1, else 400."""
    value = form_int(name, source=source, minimum=1, maximum=MAX_DB_ID)
    if value is None and required:
        abort(400, f"{name} is required")
    return value


def arg_date(name: str, default: date | None = None) -> date | None:
    """A ``YYYY-MM-DD`` query argument (see :func:`kiosk.inputs.parse_day` for the bounds);
    ``default`` if absent, 400 with a message if malformed or out of range."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_day(raw, name)
    except InputError as error:
        bad_request(error)
