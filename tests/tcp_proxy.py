"""A TCP forwarder the tests can cut: the network between a kiosk and PostgreSQL.

``TcpProxy(target)`` listens on 127.0.0.1 (a free port, :attr:`TcpProxy.port`)
and forwards every connection to ``target`` with two threads per connection.

- :meth:`TcpProxy.cut` with ``mode="refuse"`` resets every open connection and
  every new one at once (a server that went away, a switch port that died);
- ``mode="blackhole"`` also resets the open connections, but new ones are
  accepted and then never answered (a silent firewall): the client's
  ``connect_timeout`` has to end the wait;
- :meth:`TcpProxy.restore` forwards again (black-holed connections are reset).

An *established* connection cannot be black-holed faithfully by a proxy: the
proxy's own kernel acknowledges what the client sends, so the client's
``tcp_user_timeout`` and keepalives never fire. That case needs dropped packets
(a firewall rule), so a cut always resets established connections.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST (SO_LINGER 0): the peer sees the link die at once.

    ``shutdown(SHUT_RD)`` first: on Linux a plain close() does not wake a thread
    blocked in recv() on the same socket; the shutdown does (it reads b"").
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass  # already closed or never connected
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target`` until :meth:`cut`; see the module docstring."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._mode = "open"
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        #: connections forwarded so far (tests assert the kiosk really went through here)
        self.connections = 0
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._acceptor.start()

    # --- what a test calls ------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    def cut(self, mode: str = "refuse") -> None:
        """Cut the link: every open connection is reset; new ones are reset
        (``"refuse"``) or accepted and never answered (``"blackhole"``)."""
        if mode not in ("refuse", "blackhole"):
            raise ValueError(f"unknown cut mode {mode!r}")
        with self._lock:
            self._mode = mode
            doomed, self._open = self._open, set()
        for sock in doomed:
            _reset(sock)

    def restore(self) -> None:
        """Forward again; connections left hanging by a black hole are reset."""
        with self._lock:
            self._mode = "open"
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.restore()
        # as with recv(), close() alone does not wake a thread blocked in accept()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)

    # --- the threads ------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                mode = self._mode
                if mode == "blackhole":
                    self._held.append(client)
                    continue
            if mode == "refuse":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._mode != "open":  # cut while connecting
                    _reset(client)
                    _reset(upstream)
                    continue
                self._open.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True,
                                 name="tcp-proxy-pump").start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass  # reset by cut() or by either end
        with self._lock:
            self._open.discard(source)
            self._open.discard(sink)
        _reset(source)
        _reset(sink)
