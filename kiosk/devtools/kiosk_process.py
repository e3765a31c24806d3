"""Run ``phonelocker`` (the kiosk, or the demo) as a child process: the one runner.

Used by ``phonelocker bench``, by the demo runner for browser tests and
screenshots (web/demoprocess.py) and by the end-to-end tests. Readiness is
detected the way systemd does it: the runner binds its own notify socket,
passes it as ``$NOTIFY_SOCKET`` and waits for ``READY=1`` (every datagram is
kept in :attr:`KioskProcess.messages`). A caller may add its own readiness
check (the demo's dashboard answering).

The child's output goes to a log file when one is given, else it is read
line by line into :attr:`KioskProcess.output` (and handed to ``on_line``).
Stopping sends a signal (SIGTERM unless told), waits, and kills the child if
it will not go::

    with KioskProcess(config_file) as kiosk:   # started, READY=1 received
        kiosk.tap("04A1B2C3D4E5F6")
    kiosk.exit_code, kiosk.ready_s, kiosk.stop_s
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: the environment a kiosk must not inherit from whoever runs it: it gets its own
_NOT_INHERITED = ("WATCHDOG_USEC", "WATCHDOG_PID", "NOTIFY_SOCKET", "PHONELOCKER_CONFIG")


class KioskProcessError(RuntimeError):
    """The child exited, or was not ready in time."""


def phonelocker_command() -> list[str]:
    """The ``phonelocker`` console script beside this Python, else ``python -m kiosk.cli.base``."""
    script = Path(sys.executable).with_name("phonelocker")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kiosk.cli.base"]


def run_phonelocker(
    config_file: Path, *args: str, timeout: float = 30.0, check: bool = True
) -> subprocess.CompletedProcess:
    """``phonelocker --config CFG ARGS...`` to completion, output captured as text."""
    return subprocess.run(
        [*phonelocker_command(), "--config", str(config_file), *args],
        capture_output=True, text=True, timeout=timeout, check=check,
    )


def stop_child(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, wait up to ``timeout`` s, SIGKILL if it will not go; the exit code.

    For children other than a kiosk (``phonelocker web`` in ``bench school``);
    :meth:`KioskProcess.stop` does the same for a kiosk and records the timing.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


class KioskProcess:
    """``phonelocker --config CFG kiosk`` (or other ``args``) as a child process.

    ``config_file`` None: no ``--config`` and no ``$PHONELOCKER_CONFIG`` (``demo
    --lockers N`` writes its own). ``log_path``: append the child's output to
    this file instead of reading it into :attr:`output`. ``watchdog_usec``: pass
    ``$WATCHDOG_USEC``, so the child sends ``WATCHDOG=1``. ``ready_message``: the notify message
    :meth:`start` waits for (``None``: none). ``ready_check``: polled after
    that until true. ``on_line``: called with each output line (not with a
    ``log_path``). ``env``, ``cwd``: more environment, and the child's folder.
    """

    def __init__(
        self,
        config_file: Path | None,
        *,
        args: Sequence[str] = ("kiosk",),
        log_path: Path | None = None,
        watchdog_usec: int | None = None,
        ready_message: str | None = "READY=1",
        ready_check: Callable[[], bool] | None = None,
        on_line: Callable[[str], object] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.config_file = config_file
        self.args = list(args)
        self.log_path = log_path
        self.watchdog_usec = watchdog_usec
        self.ready_message = ready_message
        self.ready_check = ready_check
        self.on_line = on_line
        self.extra_env = dict(env or {})
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        #: every notify datagram received, in order
        self.messages: list[str] = []
        #: the child's output lines (when there is no ``log_path``)
        self.output: list[str] = []
        #: seconds from spawning to ready, and from the stop signal to exit
        self.ready_s = 0.0
        self.stop_s = 0.0
        self.exit_code: int | None = None
        # A short folder of our own: AF_UNIX paths are limited to ~108 bytes.
        self._socket_dir = tempfile.mkdtemp(prefix="pl-notify-")
        self.notify_path = os.path.join(self._socket_dir, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self._log_file = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def child_env(self) -> dict[str, str]:
        """Our environment, minus systemd's, with our notify socket and the config."""
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        env.update(NOTIFY_SOCKET=self.notify_path, PYTHONUNBUFFERED="1")
        if self.config_file is not None:
            env["PHONELOCKER_CONFIG"] = str(self.config_file)
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> KioskProcess:
        """Spawn the child and wait until it is ready; stop it and raise if it is not."""
        if self.log_path is not None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            output: dict = {"stdout": self._log_file}
        else:
            output = {"stdout": subprocess.PIPE, "text": True}
        started = time.perf_counter()
        config = ["--config", str(self.config_file)] if self.config_file is not None else []
        self.process = subprocess.Popen(
            [*phonelocker_command(), *config, *self.args],
            stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=self.child_env(),
            cwd=self.cwd, **output,
        )
        if self.log_path is None:
            self._reader = threading.Thread(target=self._read, daemon=True,
                                            name="kiosk-output")
            self._reader.start()
        try:
            if self.ready_message:
                self.wait_for_message(self.ready_message, timeout)
            if self.ready_check is not None:
                self._wait_for_check(started + timeout, timeout)
        except KioskProcessError:
            self.stop(signal.SIGKILL)
            raise
        self.ready_s = time.perf_counter() - started
        return self

    def wait_for_message(self, message: str, timeout: float) -> float:
        """Wait for a notify message (one line of a datagram); return how long it took."""
        start = time.monotonic()
        deadline = start + timeout
        while not any(message in datagram.split("\n") for datagram in self.messages):
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KioskProcessError(
                    f"{self.args[0]}: no {message} within {timeout:g} s:\n{self.log()}")
            self.notify.settimeout(min(remaining, 0.05))
            try:
                self.messages.append(self.notify.recv(4096).decode(errors="replace"))
            except TimeoutError:
                continue
        return time.monotonic() - start

    def _wait_for_check(self, deadline: float, timeout: float) -> None:
        assert self.ready_check is not None
        while not self.ready_check():
            self._check_alive()
            if time.perf_counter() > deadline:
                raise KioskProcessError(
                    f"{self.args[0]}: not ready within {timeout:g} s:\n{self.log()}")
            time.sleep(0.1)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self._join_reader()
            raise KioskProcessError(
                f"{self.args[0]} exited {self.process.returncode}:\n{self.log()}")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            self.output.append(line)
            if self.on_line is not None:
                self.on_line(line)

    def _join_reader(self) -> None:
        # the rest of the output, once the child has gone: a pipe ends at its exit
        if self._reader is not None:
            self._reader.join(timeout=2)

    def log(self) -> str:
        """Everything the child has printed so far."""
        if self.log_path is not None:
            return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(self.output)

    def tap(self, uid: str) -> None:
        """``phonelocker tap UID``: present a card to the child's emulated reader."""
        assert self.config_file is not None, "no config: no reader to tap"
        run_phonelocker(self.config_file, "tap", uid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig``, wait up to ``timeout`` s, SIGKILL if it will not go; the exit code."""
        assert self.process is not None, "not started"
        stopping = time.perf_counter()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop on signal %d: killing it", self.args[0], sig)
            self.process.kill()
            code = self.process.wait()
        self.stop_s = time.perf_counter() - stopping
        self.exit_code = code
        self._join_reader()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def close(self) -> None:
        """Kill the child if it still runs, and remove the notify socket."""
        if self.process is not None and self.process.poll() is None:
            self.stop(signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.notify.close()
        for name in os.listdir(self._socket_dir):
            os.unlink(os.path.join(self._socket_dir, name))
        os.rmdir(self._socket_dir)

    def __enter__(self) -> KioskProcess:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.stop(signal.SIGTERM)
        finally:
            self.close()
