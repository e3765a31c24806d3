"""``phonelocker demo``: the demo school's kiosk (:mod:`kiosk.devtools.demo`) plus the dashboard.

:func:`run` hands :func:`start_web` to :func:`kiosk.devtools.demo.run_demo`, which
calls it after seeding the demo school and before the kiosk starts. Demo
accounts get fresh random passwords every time the demo starts (created if
missing, reset if they exist), and the demo prints them: nothing is a
default, and a password from an earlier run stops working.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from kiosk.config import Config
from kiosk.devtools.demo import run_demo
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


def _new_password(username: str) -> str:
    while True:
        password = secrets.token_urlsafe(12)
        try:
            staff.check_password_policy(password, username)
        except ActionError:
            continue
        return password


def ensure_demo_accounts(db: Database) -> dict[str, str]:
    """Create or reset the demo accounts; return ``{username: new password}``."""
    passwords: dict[str, str] = {}
    with db.session() as session:
        for username, role, classes in DEMO_ACCOUNTS:
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


def run(*, data_dir: Path, host: str | None, port: int | None, fresh: bool,
        config_path: str | None = None) -> None:
    """Seed and run the demo school's kiosk with the dashboard beside it, until Ctrl+C."""
    run_demo(data_dir=data_dir, host=host, port=port, fresh=fresh, config_path=config_path,
             start_web=start_web)
