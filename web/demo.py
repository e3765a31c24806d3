"""``phonelocker demo``: the demo school's kiosk (:mod:`kiosk.devtools.demo`) plus the dashboard.

:func:`run` hands :func:`start_web` to :func:`kiosk.devtools.demo.run_demo`, which
calls it after seeding the demo school and before the kiosk starts; with
``--lockers N`` (N >= 2) to :func:`kiosk.devtools.demo_school.run_school_demo`,
which serves the dashboard on the school's central database. Demo
accounts get fresh random passwords every time the demo starts (created if
missing, reset if they exist), and the demo prints them: nothing is a
default, and a password from an earlier run stops working.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

import click

from kiosk.config import Config
from kiosk.devtools.demo import run_demo
from kiosk.devtools.demo_school import run_school_demo
from kiosk.errors import ActionError
from kiosk.school import staff
from kiosk.store.db import Database

log = logging.getLogger(__name__)

#: username, role, classes
DEMO_ACCOUNTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("office", "office", ()),
    ("teacher6k", "teacher", ("6K",)),
    ("admin", "admin", ()),
)
#: and with ``--lockers N``: the 6R teacher too
SCHOOL_ACCOUNTS = (*DEMO_ACCOUNTS[:2], ("teacher6r", "teacher", ("6R",)), DEMO_ACCOUNTS[2])


def _new_password(username: str) -> str:
    while True:
        password = secrets.token_urlsafe(12)
        try:
            staff.check_password_policy(password, username)
        except ActionError:
            continue
        return password


def ensure_demo_accounts(
    db: Database, accounts: tuple[tuple[str, str, tuple[str, ...]], ...] = DEMO_ACCOUNTS
) -> dict[str, str]:
    """Create or reset the demo ``accounts``; return ``{username: new password}``."""
    passwords: dict[str, str] = {}
    with db.session() as session:
        for username, role, classes in accounts:
            password = _new_password(username)
            user = staff.get_user(session, username)
            if user is None:
                staff.create_user(session, username, password, role=role, classes=classes,
                                  actor="demo")
            else:
                staff.update_user(session, user, role=role, classes=classes, active=True,
                                  actor="demo")
                staff.set_password(session, user, password, actor="demo")
            passwords[username] = password
        session.commit()
    return passwords


def start_web(
    config: Config, db: Database, *, host: str, port: int
) -> tuple[Callable[[], None], dict[str, str]]:
    """Start the dashboard in a background thread; return (stop, demo accounts' passwords)."""
    from web import create_app
    from web.server import start_in_thread

    passwords = ensure_demo_accounts(db)
    app = create_app(config, db)
    stop = start_in_thread(app, host, port)
    return stop, passwords


def start_school_web(
    config: Config, db: Database, *, host: str, port: int
) -> tuple[Callable[[], None], dict[str, str]]:
    """:func:`start_web` for a many-locker demo: the 6R teacher's account too."""
    from web import create_app
    from web.server import start_in_thread

    passwords = ensure_demo_accounts(db, SCHOOL_ACCOUNTS)
    app = create_app(config, db)
    return start_in_thread(app, host, port), passwords


def run(*, data_dir: Path, host: str | None, port: int | None, fresh: bool,
        config_path: str | None = None, lockers: int = 1) -> None:
    """Seed and run the demo school's kiosk(s) with the dashboard beside, until Ctrl+C."""
    if lockers == 1:
        run_demo(data_dir=data_dir, host=host, port=port, fresh=fresh,
                 config_path=config_path, start_web=start_web)
        return
    if config_path is not None:
        raise click.UsageError(
            "--lockers writes every config itself under --data-dir: run it without --config "
            "(and without $PHONELOCKER_CONFIG)")
    run_school_demo(data_dir=data_dir, lockers=lockers, host=host, port=port, fresh=fresh,
                    start_web=start_school_web)
