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


def _options(trusted_proxy: str | None) -> dict:
    options: dict = {"threads": THREADS, "ident": "phonelocker"}
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
        close_all(server.map if hasattr(server, "map") else server._map)
        thread.join(timeout=3)

    return stop
