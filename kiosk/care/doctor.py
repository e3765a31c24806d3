"""``phonelocker doctor``: one line per check, what is wrong and what to do.

Each check returns a :class:`Check`. ``ok`` is True (✓), False (✗) or None
(– skipped, with the reason); a passing check may carry a ``warning`` (!),
shown with its fix. The command exits non-zero if any check fails.
Checks that would grab a device the running kiosk holds (reader, GPIO) read
the kiosk's heartbeat instead.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from kiosk.config import Config, load_config
from kiosk.config_values import ConfigError
from kiosk.locker.clock import kernel_clock_synchronised
from kiosk.store.db import Database, DatabaseError, sqlite_file

MIB = 1024 * 1024
#: below this the kiosk is about to refuse every tap (it cannot record them): fail
FAIL_FREE_BYTES = 20 * MIB
#: below either of these, warn: a day of events is small, but backups and logs are not
WARN_FREE_BYTES = 100 * MIB
WARN_FREE_FRACTION = 0.05
SERVICES = ("phonelocker-kiosk.service", "phonelocker-web.service", "phonelocker-maintenance.timer")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    warning: bool = False

    def line(self) -> str:
        mark = "!" if self.warning else {True: "✓", False: "✗", None: "–"}[self.ok]
        text = f"{mark} {self.name}: {self.detail}"
        if (self.ok is False or self.warning) and self.fix:
            text += f"\n    → {self.fix}"
        return text


def check_config(path: str | None) -> tuple[Check, Config | None]:
    try:
        config = load_config(path)
    except ConfigError as error:
        return Check("config", False, str(error), "fix the key named above"), None
    where = config.source or "built-in defaults (no --config)"
    return Check("config", True, where), config


def check_database(config: Config) -> tuple[Check, Database | None]:
    database_file = sqlite_file(config.database.url)
    if database_file is not None and not database_file.exists():
        return Check("database", False, f"{database_file} does not exist",
                     "run 'phonelocker db upgrade'"), None
    try:
        db = Database(config.database.url)
        db.check()
    except DatabaseError as error:
        return Check("database", False, str(error), "run 'phonelocker db upgrade'"), None
    except Exception as error:
        return Check("database", False, f"cannot open: {error}", "check [database] url"), None
    return Check("database", True, f"{_safe_url(config.database.url)}, schema up to date"), db


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _heartbeat(db: Database | None, config: Config) -> dict | None:
    """The running kiosk's status for this locker, if it is online."""
    if db is None:
        return None
    from kiosk.school.queries import locker_states

    with db.session() as session:
        for locker in locker_states(session, config):
            if locker["id"] == config.locker.id and locker["online"]:
                return locker
    return None


def check_reader(config: Config, running: dict | None, frontend: Callable | None = None) -> Check:
    path = config.reader.device
    if running is not None:
        if running["reader_ok"]:
            return Check("reader", True, f"{path}: working (in use by the running kiosk)")
        return Check("reader", False, f"{path}: the running kiosk reports a reader fault",
                     "check the USB cable or UART wiring; the kiosk reopens it by itself")
    if config.reader.emulated:
        return Check("reader", None, f"{path}: emulated reader (no hardware to check)")
    if frontend is None:
        import nfc

        frontend = nfc.ContactlessFrontend
    try:
        clf = frontend(path)
    except Exception as error:
        return Check("reader", False, f"no reader at {path} ({error})",
                     "plug the reader in; check 'lsusb', the udev rule, the pn533 blacklist "
                     "and that this user is in group plugdev (hardware/README.md)")
    try:
        name = str(clf)
    finally:
        clf.close()
    return Check("reader", True, f"{path}: {name}")


def check_gpio(config: Config, running: dict | None) -> Check:
    factory_name = config.gpio.pin_factory
    if running is not None:
        return Check("gpio", True, f"{factory_name}: in use by the running kiosk")
    if config.gpio.emulated:
        return Check("gpio", None, "mock pins (emulated hardware)")
    from hardware.errors import HardwareError
    from kiosk.locker.daemon import build_hardware

    try:
        hardware = build_hardware(config)
    except HardwareError as error:
        return Check("gpio", False, str(error), "see hardware/README.md")
    hardware.close()  # leaves every lock de-energised
    pins = ", ".join(str(b.lock_pin) for b in config.locker.bays)
    return Check("gpio", True, f"{factory_name}: lock pins {pins} open and locked")


def check_clock(running: dict | None, synchronised: Callable[[], bool | None]) -> Check:
    state = synchronised()
    if state is False:
        return Check("clock", False, "not synchronised: events are marked clock-suspect",
                     "check the network and 'timedatectl' (systemd-timesyncd must reach NTP)")
    if running is not None and running.get("clock_ok") is False:
        return Check("clock", False, "the running kiosk reports a suspect clock "
                     "(behind the newest event, or it jumped backwards)",
                     "check 'timedatectl' and the kiosk log")
    if state is None:
        return Check("clock", None, "cannot ask the kernel about synchronisation")
    return Check("clock", True, "synchronised")


def check_disk(config: Config, usage: Callable[[Path], Any] = shutil.disk_usage) -> Check:
    """Free space on the database's file system: warn below 100 MB or 5 %, fail below 20 MB.

    When it is full the kiosk cannot record taps and so refuses them all.
    """
    database_file = sqlite_file(config.database.url)
    if database_file is None:
        return Check("disk", None, "database is not a local file")
    folder = database_file.resolve().parent
    while not folder.exists():
        folder = folder.parent
    space = usage(folder)
    free, total = space.free, space.total
    detail = (
        f"{free / MIB:,.0f} MB free of {total / MIB:,.0f} MB "
        f"({free / total:.0%}) at {folder}" if total else f"{free / MIB:,.0f} MB free at {folder}"
    )
    fix = ("free space: old backups (/var/lib/phonelocker/backups), logs "
           "('journalctl --vacuum-size=50M'); see docs/operations.md, 'Disk full'")
    if free < FAIL_FREE_BYTES:
        return Check("disk", False, f"{detail}; below {FAIL_FREE_BYTES // MIB} MB the kiosk "
                     "soon cannot record taps and refuses them all", fix)
    if free < WARN_FREE_BYTES or (total and free / total < WARN_FREE_FRACTION):
        return Check("disk", True, f"{detail}; low (warning below {WARN_FREE_BYTES // MIB} MB "
                     f"or {WARN_FREE_FRACTION:.0%})", fix, warning=True)
    return Check("disk", True, detail)


def check_writes(config: Config, now: datetime | None = None) -> Check | None:
    """The running kiosk's own word that it cannot write the database (its status file)."""
    from kiosk.store.runtime_status import current_fault, status_path

    fault = current_fault(config, config.locker.id, now or datetime.now(UTC))
    if fault is None:
        return None
    return Check("writes", False, f"the kiosk says: {fault['problem']} ({fault.get('detail')}); "
                 f"every tap is refused (from {status_path(config)})",
                 "free disk space (see the disk line); the kiosk recovers by itself")


def check_services(config: Config, systemctl: str | None = None) -> Check:
    systemctl = systemctl or shutil.which("systemctl")
    if config.emulated:
        return Check("services", None, "emulated hardware: not an installed kiosk")
    if systemctl is None:
        return Check("services", None, "systemctl not found")
    states = {}
    # The notify timer matters only once email is set up ([notify]).
    units = SERVICES + (("phonelocker-notify.timer",) if config.notify is not None else ())
    for unit in units:
        result = subprocess.run(
            [systemctl, "is-enabled", unit], check=False, capture_output=True, text=True, timeout=10
        )
        state = result.stdout.strip()
        if not state and "No such file" in result.stderr:
            state = "not installed"
        states[unit] = state or "unknown"
    bad = {unit: state for unit, state in states.items() if state != "enabled"}
    if bad:
        listing = ", ".join(f"{unit} {state}" for unit, state in bad.items())
        return Check("services", False, listing,
                     "run systemd/install.sh, or 'systemctl enable --now' the units")
    timers = "maintenance and notify timers" if config.notify else "maintenance timer"
    return Check("services", True, f"kiosk, web and {timers} enabled")


#: an unsent notice older than this means mail is not getting through
NOTICE_LATE_MINUTES = 10


def check_notify(config: Config, db: Database | None, now: datetime | None = None) -> Check:
    """Email notices: anything failing or waiting too long, and the last SMTP error."""
    if config.notify is None:
        return Check("notify", None, "no [notify] section: email notices are off")
    if db is None:
        return Check("notify", None, "no database to read the outbox from")
    from sqlalchemy import func, select

    from kiosk.store.models import Notice
    from kiosk.timeutil import naive_utc

    late_before = naive_utc(now) - timedelta(minutes=NOTICE_LATE_MINUTES)
    with db.session() as session:
        unsent = select(func.count()).select_from(Notice).where(Notice.status == "pending")
        waiting = session.scalar(unsent) or 0
        late = session.scalar(unsent.where(Notice.created_at < late_before)) or 0
        failing = session.scalar(unsent.where(Notice.last_error.is_not(None))) or 0
        last_error = session.scalar(
            select(Notice.last_error).where(Notice.status == "pending",
                                            Notice.last_error.is_not(None))
            .order_by(Notice.next_attempt_at.desc()).limit(1)
        )
        sent = session.scalar(select(func.count()).select_from(Notice).where(
            Notice.status == "sent", Notice.sent_at >= naive_utc(now) - timedelta(days=1))) or 0
    server = f"{config.notify.host}:{config.notify.port}"
    if late or failing:
        detail = (f"{failing} notice(s) failing, {late} waiting over {NOTICE_LATE_MINUTES} min "
                  f"for {server}")
        if last_error:
            detail += f"; last error: {last_error}"
        return Check("notify", False, detail,
                     "check [notify] host, port, starttls and the password file; "
                     "'phonelocker notify' retries by itself "
                     "(systemctl status phonelocker-notify.timer)")
    return Check("notify", True, f"{server}: {sent} sent in the last 24 h, {waiting} queued")


def run_checks(
    config_path: str | None,
    *,
    synchronised: Callable[[], bool | None] = kernel_clock_synchronised,
    frontend: Callable | None = None,
) -> list[Check]:
    config_check, config = check_config(config_path)
    if config is None:
        return [config_check]
    db_check, db = check_database(config)
    running = _heartbeat(db, config)
    checks = [
        config_check,
        db_check,
        check_reader(config, running, frontend),
        check_gpio(config, running),
        check_clock(running, synchronised),
        check_disk(config),
        check_services(config),
        check_notify(config, db),
    ]
    writes = check_writes(config)
    if writes is not None:
        checks.insert(-1, writes)
    if db is not None:
        db.dispose()
    return checks
