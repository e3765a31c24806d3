"""Small shared pieces: the app's state, the clock, form parsing and time formatting."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from flask import abort, current_app, request

from kiosk.config import Config
from kiosk.db import Database
from web.security import LoginLimiter


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    """What the blueprints share, kept in ``app.extensions["phonelocker"]``."""

    config: Config
    db: Database
    limiter: LoginLimiter
    import_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    clock: Callable[[], datetime] = utc_now


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
    """``HH:MM`` from an ISO string in local time (as kiosk.status gives) or a stored time."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[11:16]
    return local(value).strftime("%H:%M")


def format_when(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in the school's zone."""
    moment = local(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def form_text(name: str, *, max_length: int = 500) -> str:
    """A stripped text field, 400 if absurdly long."""
    value = request.form.get(name, "").strip()
    if len(value) > max_length:
        abort(400, f"{name} is too long")
    return value


def form_int(name: str, *, source: dict | None = None) -> int | None:
    """An optional whole number from the form (or ``source``); 400 if it is not one."""
    raw = (source if source is not None else request.form).get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        abort(400, f"{name} must be a whole number")


def arg_date(name: str, default: date | None = None) -> date | None:
    """A ``YYYY-MM-DD`` query argument, ``default`` if absent or malformed."""
    raw = request.args.get(name, "").strip()
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        return default
