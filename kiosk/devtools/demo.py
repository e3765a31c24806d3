"""The kiosk half of ``phonelocker demo``: a demo school on emulated hardware.

It writes a config under the data folder (SQLite, nfcpy's ``udp`` reader,
gpiozero's ``MockFactory``), migrates, seeds a Year 6 class and a few Year 5
pupils (one approved) if the database is empty, then runs the kiosk in-process.
The command is the dashboard's (``web/cli.py``): :func:`web.demo.run` calls
:func:`run_demo` with its ``start_web``, so the web server runs beside the kiosk
while ``kiosk/`` never imports ``web/``.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from kiosk.config import load_config
from kiosk.devtools.emulated_config import DEMO_BAY, DEMO_POLICY, emulated_locker_toml
from kiosk.school.pupils import add_pupil, approve_year5
from kiosk.store.db import Database

log = logging.getLogger(__name__)

#: starts a server beside the kiosk: (config, db, host=, port=) -> (stop, {user: password})
StartWeb = Callable[..., tuple[Callable[[], None], dict[str, str]]]

DEMO_PUPILS = [
    # name, year, class, card UID
    ("Amara Okafor", 6, "6K", "04A1B2C3D4E5F6"),
    ("Ben Carter", 6, "6K", "04B2C3D4E5F607"),
    ("Chloé Dubois", 6, "6K", "04C3D4E5F60718"),
    ("Dev Patel", 6, "6K", "04D4E5F6071829"),
    ("Ella Nowak", 6, "6K", "1A2B3C4D"),
    ("Finn O'Brien", 6, "6K", "2B3C4D5E"),
    ("Grace Mensah", 5, "5R", "04E5F60718293A"),  # approved by SLT
    ("Harry Lee", 5, "5R", "04F60718293A4B"),  # not approved
    ("Isla Murphy", 5, "5R", None),
]



def write_demo_config(data_dir: Path, host: str, port: int, udp_port: int = 54321) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo.toml"
    path.write_text(emulated_locker_toml(
        header="Phone Locker demo configuration (written by 'phonelocker demo').",
        database_url=f"sqlite:///{(data_dir / 'phonelocker.db').resolve()}",
        udp_port=udp_port,
        locker={"id": "demo-6k", "name": "Class 6K locker", "unlock_seconds": 5},
        bay=DEMO_BAY, policy=DEMO_POLICY,
        extra={"web": {"host": host, "port": port,
                       "secret_key_file": str((data_dir / "secret_key").resolve())}},
    ), encoding="utf-8")
    return path


def seed_demo_school(db: Database,
                     pupils: Sequence[tuple[str, int, str, str | None]] | None = None) -> bool:
    """Add ``pupils`` (default :data:`DEMO_PUPILS`) if there are none yet; True if it seeded."""
    from sqlalchemy import func, select

    from kiosk.store.models import Pupil

    with db.session() as session:
        if session.scalar(select(func.count()).select_from(Pupil)):
            return False
        for name, year, class_name, uid in pupils or DEMO_PUPILS:
            pupil = add_pupil(
                session, name=name, year=year, class_name=class_name, card_uid=uid, actor="demo"
            )
            if name == "Grace Mensah":
                approve_year5(session, pupil, by="Mrs Head (demo)", actor="demo")
        session.commit()
    return True


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_demo(
    *,
    data_dir: Path,
    host: str | None,
    port: int | None,
    fresh: bool,
    config_path: str | None = None,
    start_web: StartWeb | None = None,
) -> None:
    """Seed and run the demo until Ctrl+C; ``start_web`` (if given) serves beside it."""
    from kiosk.locker.daemon import Kiosk
    from kiosk.locker.stopping import install_stop_signals

    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    if config_path is None:
        config_path = str(write_demo_config(data_dir, host or "127.0.0.1", port or 8080))
    config = load_config(config_path)
    host, port = host or config.web.host, port or config.web.port
    if not config.emulated:
        raise click.UsageError("the demo runs on emulated hardware only (udp reader, mock pins)")
    udp_port = int(config.reader.device.rsplit(":", 1)[-1])
    if not _udp_port_free(udp_port):
        raise click.ClickException(
            f"UDP port {udp_port} is busy: is another kiosk or demo running?"
        )
    db = Database(config.database.url)
    db.upgrade()
    seeded = seed_demo_school(db)
    web_stop = None
    accounts: dict[str, str] = {}
    if start_web is not None:
        # before the kiosk opens the pins and reader, so a bad address stops nothing half-open
        try:
            web_stop, accounts = start_web(config, db, host=host, port=port)
        except OSError as error:  # the port is taken
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        except ValueError as error:  # waitress: "Invalid host/port specified."
            raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    try:
        kiosk = Kiosk(config, db)
    except BaseException:
        if web_stop is not None:
            web_stop()
        raise
    install_stop_signals(kiosk.stop)
    cfg = f"--config {config_path}"
    lines = [
        "",
        "Phone Locker demo: emulated reader and pins, SQLite at " + config.database.url,
        "Demo school seeded." if seeded else "Using the existing demo database.",
    ]
    if web_stop is not None:
        lines.append(f"Dashboard: http://{host}:{port}/")
        lines.append(f"Locker screen (what a pupil at the locker reads): http://{host}:{port}/screen")
        lines += [f"  login {user} / {password}" for user, password in accounts.items()]
    lines += [
        "Tap a card (in another terminal):",
        f"  .venv/bin/phonelocker {cfg} tap 04A1B2C3D4E5F6    # Amara, Year 6",
        f"  .venv/bin/phonelocker {cfg} tap 04E5F60718293A    # Grace, Year 5, approved",
        f"  .venv/bin/phonelocker {cfg} tap 04F60718293A4B    # Harry, Year 5, refused",
        "Watch:",
        f"  .venv/bin/phonelocker {cfg} status",
        f"  .venv/bin/phonelocker {cfg} events",
        "Ctrl+C stops the demo (the locks end locked).",
        "",
    ]
    click.echo("\n".join(lines))
    try:
        kiosk.run()
    finally:
        if web_stop is not None:
            web_stop()
