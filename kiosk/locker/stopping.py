"""Stopping a long-running process on SIGTERM or SIGINT without deadlocking.

A Python signal handler runs in the main thread, between two bytecodes of
whatever the main thread was doing. ``threading.Event.set()`` takes the lock
that ``Event.wait()`` holds for a few bytecodes around its sleep, so a handler
that calls ``set()`` on the very event the main loop waits on can land inside
that window and wait forever on a lock its own thread holds. The kiosk did
exactly that about once in 40 stops: ``systemctl stop`` then hung until
systemd's SIGKILL, and the "kiosk stopped" record was lost.

:class:`StopSignal` has the same ``set``/``is_set``/``wait`` shape but takes
no lock: ``set()`` stores a flag and writes one byte to a socket pair;
``wait()`` sleeps in ``select()`` on the other end.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
from collections.abc import Callable


class StopSignal:
    """A one-way stop request, safe to raise from a signal handler or any thread."""

    def __init__(self) -> None:
        self._flag = False
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)

    def set(self) -> None:
        """Request the stop. Takes no lock, so it is safe inside a signal handler."""
        if self._flag:
            return
        self._flag = True
        # OSError: the socket was closed, so nobody waits on it any more
        with contextlib.suppress(OSError):
            self._write.send(b"\0")

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds or until :meth:`set`; returns :meth:`is_set`.

        The byte is never read back: the flag is one-way, so once set the socket
        stays readable and every waiter, in any thread, returns at once.
        """
        if not self._flag and self._read.fileno() != -1:
            select.select([self._read], [], [], timeout)
        return self._flag

    def close(self) -> None:
        """Release the socket pair; :meth:`set` after this still sets the flag."""
        self._read.close()
        self._write.close()


def install_stop_signals(stop: Callable[[], None]) -> None:
    """Call ``stop()`` on SIGTERM and SIGINT.

    ``stop`` runs inside the signal handler, so it must take no lock and must
    not log (a handler that writes to a stream the main thread is writing to
    raises "reentrant call"): :meth:`StopSignal.set` is such a function.
    """

    def handler(_signum, _frame) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
