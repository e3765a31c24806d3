"""Configuration: one TOML file, loaded once into frozen dataclasses.

The defaults are the dataclasses' own; the one file named with ``--config``
or ``PHONELOCKER_CONFIG`` overrides them key by key (there is no stack of
files: an installed Pi has ``/etc/phonelocker/config.toml``). Every key is checked; an
unknown key or a bad value raises :class:`~kiosk.config_values.ConfigError` naming the key, and
the CLI turns that into exit code 2.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kiosk.config_values import (
    ConfigError,
    check_keys,
    parse_hhmm,
    read_bool,
    read_int,
    read_number,
    read_pin,
    read_str,
    read_zone,
    sub_table,
)
from kiosk.inputs import clean_address

ENV_VAR = "PHONELOCKER_CONFIG"
#: database dialects the code is written and tested for
DIALECTS = ("sqlite", "postgresql")
#: the web secret key must have at least this many bytes (web.security makes 32)
MIN_SECRET_KEY_BYTES = 32
#: a lock held open longer than this is not an unlock pulse but a fault (and most small
#: solenoids overheat); the emergency unlock's own limit is lower
MAX_UNLOCK_SECONDS = 120.0
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
READER_PATH = re.compile(
    r"^(usb(:[0-9a-fA-F]{4}:[0-9a-fA-F]{4}|:\d{3}:\d{3})?"
    r"|tty:[A-Za-z0-9]+(:[a-z0-9]+)?"
    r"|udp(:[A-Za-z0-9.\-]+(:\d{1,5})?)?)$"
)


@dataclass(frozen=True)
class BayConfig:
    number: int
    lock_pin: int | str
    door_pin: int | str | None = None


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///var/phonelocker.db"


@dataclass(frozen=True)
class ReaderConfig:
    device: str = "udp:127.0.0.1:54321"

    @property
    def emulated(self) -> bool:
        return self.device.startswith("udp")


@dataclass(frozen=True)
class GpioConfig:
    pin_factory: str = "mock"
    lock_active_high: bool = True
    green_led_pin: int | str | None = 22
    red_led_pin: int | str | None = 23
    buzzer_pin: int | str | None = 24

    @property
    def emulated(self) -> bool:
        return self.pin_factory == "mock"


@dataclass(frozen=True)
class LockerConfig:
    id: str = "locker-1"
    name: str = "Year 6 locker"
    unlock_seconds: float = 5.0
    bays: tuple[BayConfig, ...] = (BayConfig(number=1, lock_pin=17, door_pin=27),)
    #: the kiosk's status file for faults the database cannot record
    #: (kiosk/store/runtime_status.py);
    #: None: $RUNTIME_DIRECTORY or /run/phonelocker, else beside a SQLite database
    status_file: str | None = None


@dataclass(frozen=True)
class PolicyConfig:
    collect_from: time = time(15, 15)
    #: weekday index (Monday = 0) -> collection time, where it differs
    collect_from_by_weekday: dict[int, time] = field(default_factory=dict)
    grace_seconds: float = 60.0
    debounce_seconds: float = 2.0
    timezone: str = "Europe/London"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def collection_time(self, weekday: int) -> time:
        """The time phones may be collected on ``weekday`` (Monday = 0)."""
        return self.collect_from_by_weekday.get(weekday, self.collect_from)


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key_file: str = "var/secret_key"
    #: seconds without a heartbeat after which a kiosk counts as offline
    offline_after_seconds: float = 15.0
    #: address of a reverse proxy whose X-Forwarded-Proto/-For are believed
    trusted_proxy: str | None = None


@dataclass(frozen=True)
class RetentionConfig:
    events_months: int = 13
    leavers_months: int = 13


@dataclass(frozen=True)
class ClockConfig:
    #: mark events clock-suspect while the kernel says NTP has not synchronised
    check_sync: bool = True


@dataclass(frozen=True)
class NotifyConfig:
    """``[notify]``: email notices sent by ``phonelocker notify``. Absent: no email."""

    host: str
    from_address: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    #: a file holding the SMTP password, read when sending (never kept in the config)
    password_file: str | None = None
    office: tuple[str, ...] = ()
    it: tuple[str, ...] = ()
    not_collected_after_minutes: int = 30
    #: seconds to wait for the mail server at each step
    timeout_seconds: float = 10.0
    #: the school day for kiosk offline / reader fault notices (local times)
    day_starts: time = time(7, 30)
    day_ends: time = time(17, 30)


@dataclass(frozen=True)
class CentralConfig:
    """``[central]``: the school's central database this kiosk syncs with (kiosk/sync).

    Absent: a standalone locker, whose ``[database]`` is the whole school.
    """

    url: str
    #: how often a connected kiosk asks whether anything changed (seconds)
    poll_seconds: float = 0.5


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = DatabaseConfig()
    reader: ReaderConfig = ReaderConfig()
    gpio: GpioConfig = GpioConfig()
    locker: LockerConfig = LockerConfig()
    policy: PolicyConfig = PolicyConfig()
    web: WebConfig = WebConfig()
    retention: RetentionConfig = RetentionConfig()
    clock: ClockConfig = ClockConfig()
    notify: NotifyConfig | None = None
    central: CentralConfig | None = None
    source: str | None = None

    @property
    def emulated(self) -> bool:
        return self.reader.emulated and self.gpio.emulated


# --- parsing (the value readers are kiosk.config_values) --------------------


def check_database_url(url: str, where: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is a database URL of a supported dialect."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{where}: {url!r} is not a database URL "
            "(e.g. sqlite:////var/lib/phonelocker/phonelocker.db or postgresql+psycopg://...)"
        ) from None
    if backend not in DIALECTS:
        raise ConfigError(
            f"{where}: database {backend!r} is not supported (use {' or '.join(DIALECTS)})"
        )


def _database(data: dict[str, Any]) -> DatabaseConfig:
    table = sub_table(data, "database")
    check_keys(table, {"url"}, "[database]")
    url = read_str(table, "url", "[database]", DatabaseConfig.url)
    check_database_url(url, "[database].url")
    return DatabaseConfig(url=url)


def _central(data: dict[str, Any]) -> CentralConfig | None:
    if "central" not in data:
        return None
    table = sub_table(data, "central")
    check_keys(table, {"url", "poll_seconds"}, "[central]")
    if "url" not in table:
        raise ConfigError("[central].url: missing (the school's central database URL)")
    url = read_str(table, "url", "[central]", "")
    check_database_url(url, "[central].url")
    local = sub_table(data, "database").get("url", DatabaseConfig.url)
    if url == local:
        raise ConfigError(
            "[central].url: is this kiosk's own [database].url; the central database is "
            "another one (the school's PostgreSQL)"
        )
    poll = read_number(table, "poll_seconds", "[central]", CentralConfig.poll_seconds, 0.1, 10)
    return CentralConfig(url=url, poll_seconds=poll)


def _reader(data: dict[str, Any]) -> ReaderConfig:
    table = sub_table(data, "reader")
    check_keys(table, {"device"}, "[reader]")
    device = read_str(table, "device", "[reader]", ReaderConfig.device)
    if not READER_PATH.match(device):
        raise ConfigError(
            f"[reader].device: {device!r} is not an nfcpy device path "
            "(use usb, usb:VVVV:PPPP, tty:S0:pn532, tty:USB0:pn532 or udp:HOST:PORT)"
        )
    return ReaderConfig(device=device)


def _gpio(data: dict[str, Any]) -> GpioConfig:
    table = sub_table(data, "gpio")
    where = "[gpio]"
    keys = {"pin_factory", "lock_active_high", "green_led_pin", "red_led_pin", "buzzer_pin"}
    check_keys(table, keys, where)
    factory = read_str(table, "pin_factory", where, GpioConfig.pin_factory)
    if factory not in ("mock", "lgpio", "rpigpio", "pigpio", "native"):
        raise ConfigError(
            f"{where}.pin_factory: {factory!r} is not a gpiozero pin factory "
            "(mock, lgpio, rpigpio, pigpio or native)"
        )
    return GpioConfig(
        pin_factory=factory,
        lock_active_high=read_bool(table, "lock_active_high", where, True),
        green_led_pin=read_pin(table, "green_led_pin", where, GpioConfig.green_led_pin, True),
        red_led_pin=read_pin(table, "red_led_pin", where, GpioConfig.red_led_pin, True),
        buzzer_pin=read_pin(table, "buzzer_pin", where, GpioConfig.buzzer_pin, True),
    )


def _locker(data: dict[str, Any]) -> LockerConfig:
    table = sub_table(data, "locker")
    where = "[locker]"
    check_keys(table, {"id", "name", "unlock_seconds", "bays", "status_file"}, where)
    locker_id = read_str(table, "id", where, LockerConfig.id)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", locker_id):
        raise ConfigError(f"{where}.id: use letters, digits, '-', '_' or '.', got {locker_id!r}")
    raw_bays = table.get("bays")
    if raw_bays is None:
        bays = LockerConfig.bays
    else:
        if not isinstance(raw_bays, list) or not raw_bays:
            raise ConfigError("[[locker.bays]]: expected at least one bay")
        parsed = []
        for index, bay in enumerate(raw_bays, start=1):
            bay_where = f"[[locker.bays]] #{index}"
            if not isinstance(bay, dict):
                raise ConfigError(f"{bay_where}: expected a table")
            check_keys(bay, {"number", "lock_pin", "door_pin"}, bay_where)
            if "number" not in bay or "lock_pin" not in bay:
                raise ConfigError(f"{bay_where}: 'number' and 'lock_pin' are required")
            parsed.append(
                BayConfig(
                    number=read_int(bay, "number", bay_where, 1, minimum=1, maximum=999),
                    lock_pin=read_pin(bay, "lock_pin", bay_where, None, False),
                    door_pin=read_pin(bay, "door_pin", bay_where, None, True),
                )
            )
        numbers = [bay.number for bay in parsed]
        if len(set(numbers)) != len(numbers):
            raise ConfigError("[[locker.bays]].number: each bay needs its own number")
        bays = tuple(parsed)
    pins = [bay.lock_pin for bay in bays] + [bay.door_pin for bay in bays if bay.door_pin]
    if len(set(pins)) != len(pins):
        raise ConfigError("[[locker.bays]]: a pin is used twice")
    return LockerConfig(
        id=locker_id,
        name=read_str(table, "name", where, LockerConfig.name),
        unlock_seconds=read_number(table, "unlock_seconds", where, 5.0, minimum=0.05,
                               maximum=MAX_UNLOCK_SECONDS),
        bays=bays,
        status_file=read_str(table, "status_file", where, "") if "status_file" in table else None,
    )


def _policy(data: dict[str, Any]) -> PolicyConfig:
    table = sub_table(data, "policy")
    where = "[policy]"
    keys = {"collect_from", "grace_seconds", "debounce_seconds", "timezone", "collect_from_weekday"}
    check_keys(table, keys, where)
    overrides_table = table.get("collect_from_weekday", {})
    if not isinstance(overrides_table, dict):
        raise ConfigError(f"{where}.collect_from_weekday: expected a table of day = \"HH:MM\"")
    overrides: dict[int, time] = {}
    for day, value in overrides_table.items():
        if day.lower() not in WEEKDAYS:
            raise ConfigError(
                f"{where}.collect_from_weekday.{day}: unknown day (use {', '.join(WEEKDAYS)})"
            )
        overrides[WEEKDAYS.index(day.lower())] = parse_hhmm(
            value, f"{where}.collect_from_weekday.{day}"
        )
    zone = read_zone(table, "timezone", where, PolicyConfig.timezone)
    return PolicyConfig(
        collect_from=parse_hhmm(table.get("collect_from", "15:15"), f"{where}.collect_from"),
        collect_from_by_weekday=overrides,
        grace_seconds=read_number(table, "grace_seconds", where, 60.0, minimum=0, maximum=3600),
        debounce_seconds=read_number(table, "debounce_seconds", where, 2.0, minimum=0, maximum=60),
        timezone=zone,
    )


def _web(data: dict[str, Any]) -> WebConfig:
    table = sub_table(data, "web")
    where = "[web]"
    keys = {"host", "port", "secret_key_file", "offline_after_seconds", "trusted_proxy"}
    check_keys(table, keys, where)
    port = read_int(table, "port", where, WebConfig.port, minimum=1, maximum=65535)
    secret_key_file = read_str(table, "secret_key_file", where, WebConfig.secret_key_file)
    _check_secret_key_file(secret_key_file, f"{where}.secret_key_file")
    return WebConfig(
        host=read_str(table, "host", where, WebConfig.host),
        port=port,
        secret_key_file=secret_key_file,
        offline_after_seconds=read_number(table, "offline_after_seconds", where, 15.0, minimum=1,
                                      maximum=3600),
        trusted_proxy=(
            read_str(table, "trusted_proxy", where, "") if "trusted_proxy" in table else None
        ),
    )


def _check_secret_key_file(path: str, where: str) -> None:
    """A key file that exists must be a regular file of at least MIN_SECRET_KEY_BYTES.

    A missing one is fine (the dashboard creates it); so is one this process may not
    look at (the kiosk user need not see the web user's key)."""
    try:
        info = os.stat(path)
    except OSError:  # missing, or not ours to see
        return
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where}: {path} is not a regular file")
    if info.st_size < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            f"{where}: {path} holds {info.st_size} bytes, fewer than {MIN_SECRET_KEY_BYTES}; "
            "delete it and the dashboard makes a new one"
        )


def _retention(data: dict[str, Any]) -> RetentionConfig:
    table = sub_table(data, "retention")
    where = "[retention]"
    check_keys(table, {"events_months", "leavers_months"}, where)
    return RetentionConfig(
        events_months=read_int(table, "events_months", where, 13, minimum=1, maximum=1200),
        leavers_months=read_int(table, "leavers_months", where, 13, minimum=1, maximum=1200),
    )


def _clock(data: dict[str, Any]) -> ClockConfig:
    table = sub_table(data, "clock")
    check_keys(table, {"check_sync"}, "[clock]")
    return ClockConfig(check_sync=read_bool(table, "check_sync", "[clock]", True))


NOTIFY_KEYS = {
    "host", "port", "starttls", "username", "password_file", "from", "office", "it",
    "not_collected_after_minutes", "timeout_seconds", "day_starts", "day_ends",
}


def _addresses(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(
            f'{where}.{key}: expected a list of addresses like ["office@school.example"]'
        )
    try:
        return tuple(dict.fromkeys(clean_address(item) for item in value))
    except ValueError as error:
        raise ConfigError(f"{where}.{key}: {error}") from None


def _notify(data: dict[str, Any]) -> NotifyConfig | None:
    if "notify" not in data:
        return None
    table = sub_table(data, "notify")
    where = "[notify]"
    check_keys(table, NOTIFY_KEYS, where)
    for key in ("host", "from"):
        if key not in table:
            raise ConfigError(f"{where}.{key}: required (the mail server and the sender address)")
    try:
        sender = clean_address(read_str(table, "from", where, ""))
    except ValueError as error:
        raise ConfigError(f"{where}.from: {error}") from None
    starttls = read_bool(table, "starttls", where, True)
    port = read_int(table, "port", where, 587 if starttls else 25, minimum=1, maximum=65535)
    username = read_str(table, "username", where, "") if "username" in table else None
    password_file = (
        read_str(table, "password_file", where, "") if "password_file" in table else None
    )
    if (username is None) != (password_file is None):
        raise ConfigError(f"{where}.username and password_file: give both, or neither")
    day_starts = parse_hhmm(table.get("day_starts", "07:30"), f"{where}.day_starts")
    day_ends = parse_hhmm(table.get("day_ends", "17:30"), f"{where}.day_ends")
    if day_ends <= day_starts:
        raise ConfigError(f"{where}.day_ends: must be later than day_starts")
    return NotifyConfig(
        host=read_str(table, "host", where, ""),
        from_address=sender,
        port=port,
        starttls=starttls,
        username=username,
        password_file=password_file,
        office=_addresses(table, "office", where),
        it=_addresses(table, "it", where),
        not_collected_after_minutes=read_int(
            table, "not_collected_after_minutes", where, 30, minimum=0, maximum=24 * 60
        ),
        timeout_seconds=read_number(
            table, "timeout_seconds", where, 10.0, minimum=0.1, maximum=300
        ),
        day_starts=day_starts,
        day_ends=day_ends,
    )


SECTIONS = {
    "database": _database,
    "reader": _reader,
    "gpio": _gpio,
    "locker": _locker,
    "policy": _policy,
    "web": _web,
    "retention": _retention,
    "clock": _clock,
    "notify": _notify,
    "central": _central,
}


def parse_config(data: dict[str, Any], source: str | None = None) -> Config:
    """Check a decoded TOML document and build a :class:`Config`."""
    check_keys(data, set(SECTIONS), "top level")
    parts = {name: build(data) for name, build in SECTIONS.items()}
    return Config(**parts, source=source)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the configuration from ``path``, ``$PHONELOCKER_CONFIG`` or the defaults."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        return Config()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: cannot read config file ({error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from None
    try:
        return parse_config(data, source=str(file))
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None
