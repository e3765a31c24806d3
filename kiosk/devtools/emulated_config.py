"""The config file of an emulated locker, as the demo and the benches write it.

One writer for the sections they share (the database, nfcpy's ``udp`` reader,
gpiozero's mock pins, the locker and its bay, the policy), so that a config key
that changes changes in one place; each caller adds what is its own (``[web]``
for a dashboard, ``[central]`` for a syncing kiosk).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: the demo's school day: phones come back from 15:15, London time
DEMO_POLICY = {"collect_from": "15:15", "timezone": "Europe/London"}
#: one bay on the emulated relay board's first pins
DEMO_BAY = {"number": 1, "lock_pin": 17, "door_pin": 27}


def toml_value(value: Any) -> str:
    """A TOML value: a basic string (JSON's escapes are TOML's), a number or a boolean."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def toml_table(name: str, values: Mapping[str, Any], *, array: bool = False) -> str:
    """``[name]`` (``[[name]]`` with ``array``) and its ``key = value`` lines."""
    brackets = ("[[", "]]") if array else ("[", "]")
    lines = [f"{brackets[0]}{name}{brackets[1]}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def emulated_locker_toml(
    *,
    header: str,
    database_url: str,
    udp_port: int,
    locker: Mapping[str, Any],
    policy: Mapping[str, Any],
    bay: Mapping[str, Any] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The text of a config for an emulated locker: ``header`` (a comment), the database,
    the ``udp`` reader on ``udp_port``, mock pins, ``[locker]`` (with one ``bay`` if
    given), ``[policy]``, then each ``extra`` table (``{"web": {...}}``)."""
    tables = [
        toml_table("database", {"url": database_url}),
        toml_table("reader", {"device": f"udp:127.0.0.1:{udp_port}"}),
        toml_table("gpio", {"pin_factory": "mock"}),
        toml_table("locker", locker),
    ]
    if bay is not None:
        tables.append(toml_table("locker.bays", bay, array=True))
    tables.append(toml_table("policy", policy))
    tables += [toml_table(name, values) for name, values in (extra or {}).items()]
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + "\n".join(tables)
