"""Run ``phonelocker demo`` as a subprocess on free ports: for browser tests and screenshots.

It is the real thing (kiosk on the emulated reader and pins, dashboard on
waitress, one process), started exactly as a visitor starts it, with its
config and database in a folder of the caller's choosing. The demo accounts'
passwords are read from what the demo prints. ``lockers=N`` (N >= 2) runs
``phonelocker demo --lockers N --data-dir DIR``: :attr:`DemoProcess.configs` has
each kiosk's config and :attr:`DemoProcess.config_file` is the dashboard's.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

from kiosk.devtools.kiosk_process import KioskProcess, run_phonelocker
from kiosk.devtools.ports import free_port

ACCOUNT_LINE = re.compile(r"^\s+login (\S+) / (\S+)$")


class DemoProcess:
    """``phonelocker --config DIR/demo.toml demo`` on a free web port and a free UDP port."""

    def __init__(self, directory: Path, lockers: int = 1) -> None:
        from kiosk.devtools.demo import write_demo_config
        from kiosk.devtools.demo_school import SCHOOL_LOCKERS

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        web = ("--host", "127.0.0.1", "--port", str(self.port))
        #: each kiosk's config by locker id
        self.configs: dict[str, Path] = {}
        if lockers == 1:
            self.config_file = write_demo_config(
                directory, "127.0.0.1", self.port, udp_port=free_port(socket.SOCK_DGRAM)
            )
            self.configs["demo-6k"] = self.config_file
            config, args = self.config_file, ("demo", *web)
        else:
            self.config_file = directory / "dashboard.toml"  # the demo writes them all
            for locker_id, _name, folder in SCHOOL_LOCKERS[:lockers]:
                self.configs[locker_id] = directory / folder / "config.toml"
            config, args = None, ("demo", "--lockers", str(lockers),
                                  "--data-dir", str(directory), *web)
        self.url = f"http://127.0.0.1:{self.port}"
        self.passwords: dict[str, str] = {}
        # The shared runner gives the demo a notify socket of its own (never the caller's
        # $NOTIFY_SOCKET); readiness is the kiosk's "ready" line plus the dashboard answering.
        self.runner = KioskProcess(
            config, args=args, ready_message=None, ready_check=self._ready, on_line=self._line,
            cwd=directory,
        )
        self.output: list[str] = self.runner.output

    @property
    def process(self) -> subprocess.Popen | None:
        return self.runner.process

    def start(self, timeout: float = 30.0) -> DemoProcess:
        """Start the demo and wait until the kiosk is ready and the dashboard answers."""
        self.runner.start(timeout)
        return self

    def _line(self, line: str) -> None:
        match = ACCOUNT_LINE.match(line)
        if match:
            self.passwords[match[1]] = match[2]

    def _ready(self) -> bool:
        if not self.passwords:
            return False
        if not any("ready" in line and "kiosk" in line for line in self.output):
            return False
        try:
            with urllib.request.urlopen(self.url + "/login", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.runner.log()

    def phonelocker(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run another ``phonelocker`` command against the demo's config."""
        return run_phonelocker(self.config_file, *args, timeout=timeout)

    def tap(self, uid: str, locker: str = "demo-6k") -> None:
        """``phonelocker tap UID``: present a card to the emulated reader of ``locker``."""
        run_phonelocker(self.configs[locker], "tap", uid)

    def stop(self) -> None:
        """Ctrl+C, as a visitor would; kill it if it does not end in 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.runner.stop(signal.SIGINT, timeout=10)

    def close(self) -> None:
        """Stop the demo and remove its notify socket."""
        self.stop()
        self.runner.close()

    def __enter__(self) -> DemoProcess:
        try:
            return self.start()
        except BaseException:
            self.runner.close()
            raise

    def __exit__(self, *_exc) -> None:
        self.close()
