"""``phonelocker demo --lockers N``: a school of N lockers on one machine, no server.

The layout under the data folder (default ``var/demo``)::

    central.db          the school's central database (SQLite: the demo's stand-in
                        for the PostgreSQL a real school runs)
    dashboard.toml      the dashboard's config: [database] url = central.db
    6k/config.toml      one emulated kiosk per locker: its own SQLite, its own udp
    6k/phonelocker.db   reader port, gpiozero's MockFactory, and
    6k/kiosk.log        [central] url = central.db
    6r/...

The central database is created, migrated and seeded first (the demo pupils,
split between 6K and 6R, and every locker registered); then each kiosk is a
real ``phonelocker kiosk`` child process with its threaded sync worker (so the
kiosks start empty and receive the school by sync), and the dashboard runs in
this process on the central file. Ctrl+C stops the kiosks (they lock up) and
the dashboard.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from kiosk.config import load_config
from kiosk.devtools.demo import DEMO_PUPILS, StartWeb, seed_demo_school
from kiosk.devtools.emulated_config import DEMO_BAY, DEMO_POLICY, emulated_locker_toml
from kiosk.devtools.kiosk_process import KioskProcess, KioskProcessError
from kiosk.devtools.ports import free_port
from kiosk.store.db import Database

log = logging.getLogger(__name__)

#: (locker id, locker name, folder) in the order ``--lockers N`` takes them
SCHOOL_LOCKERS: tuple[tuple[str, str, str], ...] = (
    ("demo-6k", "6K", "6k"),
    ("demo-6r", "6R", "6r"),
    ("demo-5r", "5R", "5r"),
    ("demo-hall", "Hall", "hall"),
)
MAX_LOCKERS = len(SCHOOL_LOCKERS)
#: the demo pupils moved to 6R, so each Year 6 class has its own locker
CLASS_6R = {"Dev Patel", "Ella Nowak", "Finn O'Brien"}
KIOSK_READY_TIMEOUT_S = 60.0



@dataclass(frozen=True)
class DemoLocker:
    """One emulated kiosk of the demo school."""

    locker_id: str
    name: str
    folder: Path
    config_path: Path
    udp_port: int


@dataclass(frozen=True)
class DemoSchool:
    """Where everything of a many-locker demo is."""

    data_dir: Path
    central_url: str
    dashboard_config: Path
    lockers: tuple[DemoLocker, ...]


def school_pupils() -> list[tuple[str, int, str, str | None]]:
    """The demo pupils with Year 6 split between 6K and 6R."""
    return [(name, year, "6R" if name in CLASS_6R else class_name, uid)
            for name, year, class_name, uid in DEMO_PUPILS]


def write_school(data_dir: Path, lockers: int, *, host: str, port: int,
                 udp_ports: Sequence[int] | None = None) -> DemoSchool:
    """Write the dashboard's and every kiosk's config under ``data_dir``.

    ``udp_ports``: each kiosk's emulated reader port (default: free ones).
    """
    if not 1 <= lockers <= MAX_LOCKERS:
        raise click.UsageError(f"--lockers: 1 to {MAX_LOCKERS}")
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    central_url = f"sqlite:///{data_dir / 'central.db'}"
    ports = list(udp_ports or [free_port(socket.SOCK_DGRAM) for _ in range(lockers)])
    made = []
    for (locker_id, name, folder_name), udp_port in zip(SCHOOL_LOCKERS[:lockers], ports,
                                                         strict=True):
        folder = data_dir / folder_name
        folder.mkdir(exist_ok=True)
        path = folder / "config.toml"
        path.write_text(emulated_locker_toml(
            header="Phone Locker demo kiosk (written by 'phonelocker demo --lockers N').",
            database_url=f"sqlite:///{folder / 'phonelocker.db'}", udp_port=udp_port,
            locker={"id": locker_id, "name": name, "unlock_seconds": 5}, bay=DEMO_BAY,
            policy=DEMO_POLICY, extra={"central": {"url": central_url}}), encoding="utf-8")
        made.append(DemoLocker(locker_id, name, folder, path, udp_port))
    first = made[0]
    dashboard = data_dir / "dashboard.toml"
    dashboard.write_text(emulated_locker_toml(
        header="Phone Locker demo dashboard (written by 'phonelocker demo --lockers N').\n"
               "Its database is the school's central one; the emulator page taps at the "
               "first locker.",
        database_url=central_url, udp_port=first.udp_port,
        locker={"id": first.locker_id, "name": first.name}, bay=DEMO_BAY, policy=DEMO_POLICY,
        extra={"web": {"host": host, "port": port,
                       "secret_key_file": str(data_dir / "secret_key")}}), encoding="utf-8")
    return DemoSchool(data_dir, central_url, dashboard, tuple(made))


def prepare_central(school: DemoSchool) -> bool:
    """Create and migrate the central database, register every locker, seed the pupils.

    Returns True if it seeded (an empty database), False if it kept what was there.
    """
    from kiosk.locker.daemon import register_locker

    central = Database(school.central_url)
    try:
        central.upgrade()
        for locker in school.lockers:
            register_locker(central, load_config(locker.config_path))
        return seed_demo_school(central, school_pupils())
    finally:
        central.dispose()


def _prepare_kiosk(locker: DemoLocker) -> None:
    db = Database(load_config(locker.config_path).database.url)
    try:
        db.upgrade()
    finally:
        db.dispose()


def start_kiosks(school: DemoSchool) -> list[KioskProcess]:
    """Start every kiosk (``phonelocker kiosk``) and wait for each one's READY=1."""
    kiosks: list[KioskProcess] = []
    try:
        for locker in school.lockers:
            _prepare_kiosk(locker)
            kiosk = KioskProcess(locker.config_path, log_path=locker.folder / "kiosk.log",
                                 cwd=school.data_dir)
            kiosks.append(kiosk)
            kiosk.start(timeout=KIOSK_READY_TIMEOUT_S)
    except BaseException:
        stop_kiosks(kiosks)
        raise
    return kiosks


def stop_kiosks(kiosks: Sequence[KioskProcess]) -> None:
    """SIGTERM each kiosk (it locks up and exits), SIGKILL one that will not go."""
    for kiosk in kiosks:
        try:
            if kiosk.process is not None and kiosk.process.poll() is None:
                kiosk.stop(timeout=10)
        finally:
            kiosk.close()


def announce(school: DemoSchool, *, host: str, port: int, seeded: bool,
             accounts: dict[str, str], web: bool) -> str:
    """What the demo prints: where everything is and how to use it."""
    lines = [
        "",
        f"Phone Locker demo: a school of {len(school.lockers)} lockers on emulated hardware",
        f"Central database (SQLite, for the demo): {school.central_url}",
        "Demo school seeded." if seeded else "Using the existing demo database.",
    ]
    if web:
        lines.append(f"Dashboard (on the central database): http://{host}:{port}/")
        lines += [f"  login {user} / {password}" for user, password in accounts.items()]
        lines.append(f"  the Emulator page taps at the {school.lockers[0].name} locker")
    for locker in school.lockers:
        lines.append(f"Locker {locker.name} ({locker.locker_id}): {locker.config_path}")
        lines.append(f"  its own SQLite {locker.folder / 'phonelocker.db'}, "
                     f"log {locker.folder / 'kiosk.log'}")
        if web:
            lines.append(f"  locker screen: http://{host}:{port}/screen?locker={locker.locker_id}")
    second = school.lockers[-1]
    lines += [
        "Tap a card at a locker (in another terminal):",
        f"  .venv/bin/phonelocker --config {second.config_path} tap 04A1B2C3D4E5F6"
        f"    # Amara at {second.name}",
        "See it on the central database and a kiosk's sync:",
        f"  .venv/bin/phonelocker --config {school.dashboard_config} events",
        f"  .venv/bin/phonelocker --config {school.dashboard_config} lockers",
        f"  .venv/bin/phonelocker --config {second.config_path} sync status",
        f"{len(school.lockers)} kiosks ready. Ctrl+C stops the demo (the locks end locked).",
        "",
    ]
    return "\n".join(lines)


def run_school_demo(*, data_dir: Path, lockers: int, host: str | None, port: int | None,
                    fresh: bool, start_web: StartWeb | None = None) -> None:
    """Run the many-locker demo until Ctrl+C (or a kiosk exits)."""
    from kiosk.locker.stopping import StopSignal, install_stop_signals

    host, port = host or "127.0.0.1", port or 8080
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    school = write_school(data_dir, lockers, host=host, port=port)
    seeded = prepare_central(school)
    stop = StopSignal()
    install_stop_signals(stop.set)
    web_stop = None
    accounts: dict[str, str] = {}
    if start_web is not None:
        central = Database(school.central_url)
        try:
            web_stop, accounts = start_web(load_config(school.dashboard_config), central,
                                           host=host, port=port)
        except OSError as error:  # the port is taken
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        except ValueError as error:  # waitress: "Invalid host/port specified."
            raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    kiosks: list[KioskProcess] = []
    try:
        try:
            kiosks = start_kiosks(school)
        except KioskProcessError as error:
            raise click.ClickException(f"a demo kiosk did not start: {error}") from None
        click.echo(announce(school, host=host, port=port, seeded=seeded, accounts=accounts,
                            web=web_stop is not None))
        while not stop.wait(0.5):
            gone = [k for k in kiosks if k.process is not None and k.process.poll() is not None]
            if gone:
                raise click.ClickException(
                    f"the kiosk {gone[0].config_path} exited ({gone[0].process.returncode});"
                    f" see {gone[0].log_path}")
    finally:
        stop_kiosks(kiosks)
        if web_stop is not None:
            web_stop()
        stop.close()
