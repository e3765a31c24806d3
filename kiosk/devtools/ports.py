"""One way to find a free local port, for the bench, the demo runner and the tests."""

from __future__ import annotations

import socket


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody is using now on 127.0.0.1: TCP by default, UDP with ``socket.SOCK_DGRAM``.

    The port is released before returning, so another process could take it in
    between; for a test or a bench run on one machine that race does not matter.
    """
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
