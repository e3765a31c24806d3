"""Shared fixtures: real SQLite files, gpiozero's MockFactory, free ports, config files.

``PHONELOCKER_TEST_NOW=<ISO 8601 instant>`` starts the whole session's clock at
that instant, ticking (time-machine; every xdist worker applies it), so the
suite can be run at 23:50, just after midnight or across a UK clock change
whatever the wall clock says. Subprocesses (the ``phonelocker`` console
script, the kiosk process) keep the real clock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest
import time_machine
from gpiozero.pins.mock import MockFactory

from kiosk.config import load_config
from kiosk.devtools.ports import free_port
from kiosk.store.db import Database

BIN = Path(sys.executable).parent
PHONELOCKER = str(BIN / "phonelocker")
TEST_NOW_VAR = "PHONELOCKER_TEST_NOW"
_travel: time_machine.travel | None = None


def requested_now() -> datetime | None:
    """The instant ``PHONELOCKER_TEST_NOW`` asks for (aware), or None when it is unset."""
    raw = os.environ.get(TEST_NOW_VAR, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise pytest.UsageError(
            f"{TEST_NOW_VAR}={raw!r} is not an ISO 8601 instant, e.g. 2026-12-01T23:50:00Z"
        ) from None
    if moment.tzinfo is None:
        raise pytest.UsageError(f"{TEST_NOW_VAR}={raw!r} needs an offset, e.g. Z or +01:00")
    return moment.astimezone(UTC)


def real_now(tz: tzinfo = UTC) -> datetime:
    """The wall clock as a subprocess sees it, even while ``PHONELOCKER_TEST_NOW``
    moves this process's clock: for comparing with what a subprocess wrote."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.datetime.datetime.now(tz)
    return datetime.now(tz)


def _start_travel() -> None:
    """Move the in-process clock to ``PHONELOCKER_TEST_NOW`` (once; it ticks on)."""
    global _travel  # noqa: PLW0603 - one travel for the whole session, stopped at its end
    moment = requested_now()
    if moment is not None and _travel is None:
        _travel = time_machine.travel(moment, tick=True)
        _travel.start()


# At import, not only in pytest_configure: pytest imports the conftest files of the paths
# on its command line (``pytest tests/web``) before it configures, and a module-level
# "today" there (tests/web/conftest.py SEED_DAY) must already see the moved clock. This
# file is always imported before the conftest files below it.
_start_travel()


def pytest_configure(config: pytest.Config) -> None:
    # Before any test (and any fixture) runs, in the controller and in each xdist
    # worker: the session's in-process clock starts at the instant and ticks on.
    _start_travel()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _travel  # noqa: PLW0603
    if _travel is not None:
        _travel.stop()
        _travel = None


def pytest_report_header(config: pytest.Config) -> str:
    moment = requested_now()
    if moment is None:
        return f"clock: real ({TEST_NOW_VAR} unset)"
    return f"clock: {TEST_NOW_VAR}={moment.isoformat()} (in-process, ticking)"


def write_config(directory: Path, body: str = "", *, udp_port: int | None = None) -> Path:
    """A config file with a database in ``directory`` and an emulated reader on a free port."""
    udp_port = udp_port or free_port(socket.SOCK_DGRAM)
    path = directory / "config.toml"
    sections = {
        "database": f'url = "sqlite:///{directory / "phonelocker.db"}"',
        "reader": f'device = "udp:127.0.0.1:{udp_port}"',
        # never the default var/secret_key, which is relative to the current directory
        "web": f'secret_key_file = "{directory / "secret_key"}"',
    }
    text = ""
    for name, line in sections.items():
        if f"[{name}]" not in body:
            text += f"[{name}]\n{line}\n\n"
    path.write_text(text + body, encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def config(config_file: Path):
    return load_config(config_file)


@pytest.fixture
def db(config) -> Database:
    database = Database(config.database.url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def mock_factory():
    factory = MockFactory()
    yield factory
    factory.close()


def run_cli(config_file: Path, *args: str, check: bool = True, timeout: float = 60, **kwargs):
    """Run the real ``phonelocker`` console script as a subprocess."""
    env = {**os.environ, "PHONELOCKER_CONFIG": str(config_file)}
    result = subprocess.run(
        [PHONELOCKER, *args], check=False, capture_output=True, text=True, timeout=timeout,
        env=env, **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"phonelocker {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result
