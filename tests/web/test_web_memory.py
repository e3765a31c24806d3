"""The dashboard process's memory: glibc malloc tuned at ``phonelocker web``'s start (and
left alone elsewhere), and waitress's out-buffer kept small under a big download."""

from __future__ import annotations

import ctypes
import http.client
import platform
import sys
import time
import tracemalloc

from flask import Flask, Response

from kiosk.devtools.ports import free_port
from web import memory, server


class FakeLibc:
    """Records the calls a glibc would get."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, parameter, value) -> int:
        self.calls.append(("mallopt", parameter.value, value.value))
        return 1

    def malloc_trim(self, pad) -> int:
        self.calls.append(("malloc_trim", pad.value))
        return 1


def test_tune_malloc_sets_arenas_mmap_and_trim_thresholds():
    libc = FakeLibc()
    assert memory.tune_malloc(libc) is True
    assert libc.calls == [("mallopt", -8, 2), ("mallopt", -3, 128 * 1024),
                          ("mallopt", -1, 128 * 1024)]  # M_ARENA_MAX, M_MMAP_/M_TRIM_THRESHOLD


def test_release_trims_the_whole_heap():
    libc = FakeLibc()
    assert memory.release(libc) is True
    assert libc.calls == [("malloc_trim", 0)]


def test_glibc_is_found_only_where_the_c_library_is_glibc():
    """On this machine glibc() agrees with the platform module; the real calls work."""
    memory.glibc.cache_clear()
    found = memory.glibc()
    assert (found is not None) == (sys.platform.startswith("linux")
                                   and platform.libc_ver()[0] == "glibc")
    if found is not None:
        assert isinstance(found, ctypes.CDLL)
        assert memory.release() is True


def test_not_glibc_leaves_malloc_alone(monkeypatch):
    """macOS, musl…: nothing is called, and the callers carry on."""
    memory.glibc.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        assert memory.glibc() is None
        assert memory.tune_malloc() is False
        assert memory.release() is False
    finally:
        memory.glibc.cache_clear()


def test_serve_tunes_malloc_before_waitress_starts_its_threads(monkeypatch):
    import waitress

    calls = []
    monkeypatch.setattr(memory, "tune_malloc", lambda: calls.append("tune") or True)

    class FakeServer:
        def run(self) -> None:
            calls.append("run")

    def create_server(app, **options):
        calls.append(("create", options["outbuf_high_watermark"]))
        return FakeServer()

    monkeypatch.setattr(waitress, "create_server", create_server)
    server.serve(Flask(__name__), "127.0.0.1", 1)
    assert calls == ["tune", ("create", server.OUTBUF_HIGH_WATERMARK), "run"]


def test_the_demo_leaves_malloc_alone(monkeypatch):
    """``phonelocker demo`` runs the kiosk in the same process: it is not tuned."""
    calls = []
    monkeypatch.setattr(memory, "tune_malloc", lambda: calls.append("tune") or True)
    app = Flask(__name__)
    stop = server.start_in_thread(app, "127.0.0.1", free_port())
    stop()
    assert calls == []


def test_waitress_gets_the_small_out_buffer_watermark():
    from waitress import create_server

    created = create_server(Flask(__name__), host="127.0.0.1", port=0,
                            **server._options(None))
    try:
        assert created.adj.outbuf_high_watermark == server.OUTBUF_HIGH_WATERMARK == 1024 * 1024
    finally:
        created.close()


def test_a_big_download_holds_little_of_it_in_the_server():
    """Waitress keeps a connection's out-buffer (a BytesIO) until the high watermark's
    worth has gone through it, sent or not: with its 16 MB default a 24 MB download to
    a client that keeps up held 8–17 MB of it in the server (how much depends on how
    fast the client reads: not asserted); with :data:`~web.server.OUTBUF_HIGH_WATERMARK`,
    a megabyte or two however fast."""
    piece = b"x" * (256 * 1024)
    app = Flask(__name__)

    @app.get("/big")
    def big():
        return Response((piece for _ in range(96)), mimetype="application/octet-stream")

    port = free_port()
    stop = server.start_in_thread(app, "127.0.0.1", port)
    tracemalloc.start()
    try:
        connection = None
        for _ in range(50):  # until it listens
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/big")
                break
            except OSError:
                time.sleep(0.1)
        response = connection.getresponse()
        received = 0
        while data := response.read(64 * 1024):
            received += len(data)
        peak = tracemalloc.get_traced_memory()[1]
        connection.close()
    finally:
        tracemalloc.stop()
        stop()
    assert received == 96 * len(piece)
    assert peak < 6 * 1024 * 1024
