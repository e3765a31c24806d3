"""Run ``phonelocker demo`` as a subprocess on free ports: for browser tests and screenshots.

It is the real thing (kiosk on the emulated reader and pins, dashboard on
waitress, one process), started exactly as a visitor starts it, with its
config and database in a folder of the caller's choosing. The demo accounts'
passwords are read from what the demo prints.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

PHONELOCKER = str(Path(sys.executable).parent / "phonelocker")
ACCOUNT_LINE = re.compile(r"^\s+login (\S+) / (\S+)$")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody is using now on 127.0.0.1 (TCP by default, or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoProcess:
    """``phonelocker --config DIR/demo.toml demo`` on a free web port and a free UDP port."""

    def __init__(self, directory: Path) -> None:
        from kiosk.devtools.demo import write_demo_config

        self.directory = directory
        self.port = free_port()
        self.config_file = write_demo_config(
            directory, "127.0.0.1", self.port, udp_port=free_port(socket.SOCK_DGRAM)
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.passwords: dict[str, str] = {}
        self.output: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> DemoProcess:
        """Start the demo and wait until the kiosk is ready and the dashboard answers."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [PHONELOCKER, "--config", str(self.config_file), "demo", "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            cwd=self.directory,
        )
        threading.Thread(target=self._read, daemon=True, name="demo-output").start()
        deadline = time.monotonic() + timeout
        while not (self._ready() and self.passwords):
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo exited {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the demo did not start in {timeout:g} s:\n{self.log()}")
            time.sleep(0.1)
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            match = ACCOUNT_LINE.match(line.rstrip("\n"))
            if match:
                self.passwords[match[1]] = match[2]

    def _ready(self) -> bool:
        if not any("ready" in line and "kiosk" in line for line in self.output):
            return False
        try:
            with urllib.request.urlopen(self.url + "/login", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self) -> str:
        return "\n".join(self.output)

    def phonelocker(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run another ``phonelocker`` command against the demo's config."""
        return subprocess.run(
            [PHONELOCKER, "--config", str(self.config_file), *args], capture_output=True,
            text=True, timeout=timeout, check=True,
        )

    def tap(self, uid: str) -> None:
        """``phonelocker tap UID``: present a card to the demo's emulated reader."""
        self.phonelocker("tap", uid)

    def stop(self) -> None:
        """Ctrl+C, as a visitor would; kill it if it does not end in 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("the demo did not stop on SIGINT: killing it")
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> DemoProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
