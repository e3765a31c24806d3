"""Run a real ``phonelocker kiosk`` process for end-to-end tests.

Readiness is detected the way systemd does it: the test binds a notify
socket, passes it as ``$NOTIFY_SOCKET``, and waits for ``READY=1``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .conftest import PHONELOCKER


class KioskProcess:
    def __init__(self, config_file: Path, *, watchdog_usec: int | None = None) -> None:
        self.config_file = config_file
        self.watchdog_usec = watchdog_usec
        self.process: subprocess.Popen | None = None
        self.messages: list[str] = []
        self._socket_dir = tempfile.mkdtemp(prefix="pl-notify-")
        self.notify_path = os.path.join(self._socket_dir, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.log_path = config_file.parent / "kiosk.log"

    def start(self, timeout: float = 15.0) -> KioskProcess:
        env = {
            **os.environ,
            "PHONELOCKER_CONFIG": str(self.config_file),
            "NOTIFY_SOCKET": self.notify_path,
        }
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [PHONELOCKER, "kiosk"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.wait_for_message("READY=1", timeout)
        return self

    def wait_for_message(self, message: str, timeout: float) -> float:
        """Wait for a notify message; return how long it took."""
        start = time.monotonic()
        deadline = start + timeout
        while message not in self.messages:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"kiosk exited {self.process.returncode}:\n{self.log()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {message} within {timeout} s:\n{self.log()}")
            self.notify.settimeout(min(remaining, 0.5))
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except TimeoutError:
                continue
        return time.monotonic() - start

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()
        return code

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop(signal.SIGKILL)
        self.notify.close()
        for name in os.listdir(self._socket_dir):
            os.unlink(os.path.join(self._socket_dir, name))
        os.rmdir(self._socket_dir)

    def __enter__(self) -> KioskProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop(signal.SIGTERM)
        self.close()
