"""Serving the dashboard with waitress (never Flask's development server).

:func:`serve` runs in the foreground for ``phonelocker web``;
:func:`start_in_thread` runs it beside the kiosk for ``phonelocker demo``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

THREADS = 8

#: unsent response bytes a connection may hold before the app's writes wait (waitress's
#: default is 16 MB). Waitress 3.0 keeps a connection's out-buffer in memory until this
#: much has been written through it, *sent or not* (its BytesIO is never pruned; it spills
#: to a temporary file only when the unsent part passes ``outbuf_overflow``, 1 MB, which
#: a client that keeps up never does), then starts a new one: so a big download (a
#: year's History CSV, 100 MB) held 16 MB of already-sent bytes. At 1 MB the buffer is
#: renewed every megabyte; the export still streams at the client's pace.
OUTBUF_HIGH_WATERMARK = 1024 * 1024


def _options(trusted_proxy: str | None) -> dict:
    options: dict = {"threads": THREADS, "ident": "phonelocker",
                     "outbuf_high_watermark": OUTBUF_HIGH_WATERMARK}
    if trusted_proxy:
        # Behind a TLS-terminating proxy: believe its X-Forwarded-Proto (and only its),
        # so request.is_secure is right and the session cookie gets Secure.
        options.update(
            trusted_proxy=trusted_proxy,
            trusted_proxy_headers={"x-forwarded-proto", "x-forwarded-for"},
            clear_untrusted_proxy_headers=True,
        )
    return options


def serve(app: Flask, host: str, port: int, *, trusted_proxy: str | None = None) -> None:
    """Serve ``app`` on ``host:port`` until interrupted.

    Binding comes first, so a port in use or a bad address raises (OSError,
    ValueError) before the log says the dashboard is up.
    """
    from waitress import create_server

    from web.memory import tune_malloc

    tune_malloc()  # before waitress's threads: see web/memory.py
    server = create_server(app, host=host, port=port, **_options(trusted_proxy))
    log.info("dashboard on http://%s:%d/", host, port)
    server.run()


def start_in_thread(app: Flask, host: str, port: int) -> Callable[[], None]:
    """Start serving in a daemon thread; return a function that stops the server."""
    from waitress import create_server
    from waitress.wasyncore import close_all

    server = create_server(app, host=host, port=port, **_options(None))
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    log.info("dashboard on http://%s:%d/", host, port)

    def stop() -> None:
        server.task_dispatcher.shutdown(timeout=3)
        sockets = server.map if hasattr(server, "map") else server._map
        # closed in the loop's own thread: closed from here while the loop sat in
        # select(), its thread died of EBADF ("Bad file descriptor")
        server.trigger.pull_trigger(lambda: close_all(sockets))
        thread.join(timeout=3)
        if thread.is_alive():  # the loop did not wake: close them from here after all
            close_all(sockets)
            thread.join(timeout=3)

    return stop
