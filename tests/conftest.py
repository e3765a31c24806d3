"""Shared fixtures: real SQLite files, gpiozero's MockFactory, free ports, config files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.config import load_config
from kiosk.db import Database

BIN = Path(sys.executable).parent
PHONELOCKER = str(BIN / "phonelocker")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port nobody is using now (UDP by default, for the emulated reader)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path, body: str = "", *, udp_port: int | None = None) -> Path:
    """A config file with a database in ``directory`` and an emulated reader on a free port."""
    udp_port = udp_port or free_port()
    path = directory / "config.toml"
    sections = {
        "database": f'url = "sqlite:///{directory / "phonelocker.db"}"',
        "reader": f'device = "udp:127.0.0.1:{udp_port}"',
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
        [PHONELOCKER, *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"phonelocker {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result
