"""Readers for configuration values: each checks one key of a TOML table.

Every reader names the key (``where.key``) in the :class:`ConfigError` it
raises, so :mod:`kiosk.config` can load a file key by key and the CLI can
turn a bad value into exit code 2 with a message that says what to fix.
"""

from __future__ import annotations

import math
import re
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(Exception):
    """The configuration file is missing, unreadable or has a bad key or value."""


def check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    """Refuse a key of ``table`` (named ``where``) that is not in ``allowed``."""
    for key in table:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"{where}.{key}: unknown key (known keys: {known})")


def sub_table(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The ``[key]`` table of ``data`` (empty when absent)."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}]: expected a table")
    return value


def read_str(table: dict[str, Any], key: str, where: str, default: str) -> str:
    """A non-empty string."""
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def read_number(
    table: dict[str, Any], key: str, where: str, default: float, minimum: float,
    maximum: float,
) -> float:
    """A finite number within ``minimum..maximum`` (TOML allows inf and nan: refused)."""
    value = table.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not minimum <= value <= maximum):
        raise ConfigError(
            f"{where}.{key}: expected a number from {minimum:g} to {maximum:g}, got {value!r}"
        )
    return float(value)


def read_int(
    table: dict[str, Any], key: str, where: str, default: int, minimum: int, maximum: int
) -> int:
    """A whole number within ``minimum..maximum`` (a TOML boolean is not one)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigError(
            f"{where}.{key}: expected a whole number from {minimum} to {maximum}, got {value!r}"
        )
    return value


def read_bool(table: dict[str, Any], key: str, where: str, default: bool) -> bool:
    """``true`` or ``false``."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def read_pin(table: dict[str, Any], key: str, where: str, default: Any, optional: bool) -> Any:
    """A BCM pin (0-53) or a gpiozero pin name; ``None`` for an ``optional`` pin left off."""
    value = table.get(key, default)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}.{key}: expected a BCM pin number such as 17, got {value!r}")
    if isinstance(value, int) and not 0 <= value <= 53:
        raise ConfigError(f"{where}.{key}: BCM pin {value} does not exist (0-53)")
    if isinstance(value, str) and value.lower() in ("", "none", "off"):
        if optional:
            return None
        raise ConfigError(f"{where}.{key}: a pin is required")
    return value


def parse_hhmm(value: Any, where: str) -> time:
    """Parse ``"HH:MM"`` into a :class:`datetime.time`, naming ``where`` on error."""
    if isinstance(value, str):
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if match:
            hour, minute = int(match[1]), int(match[2])
            if hour < 24 and minute < 60:
                return time(hour, minute)
    raise ConfigError(f'{where}: expected a time "HH:MM", got {value!r}')


def read_zone(table: dict[str, Any], key: str, where: str, default: str) -> str:
    """An IANA time zone name such as ``"Europe/London"``, checked against the zone database."""
    zone = read_str(table, key, where, default)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.{key}: unknown time zone {zone!r}") from None
    return zone
