"""The connection to the school's central database, as a kiosk holds it.

One connection per kiosk, kept open between cycles (20 kiosks are 20
connections, idle). Every network wait is bounded, so a cut cable or a
silent firewall ends in an error the worker reports, never a hang: a connect
timeout, TCP keepalives and ``tcp_user_timeout`` for a peer that stopped
answering, and a statement timeout on the server.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from kiosk.store.db import make_engine

#: seconds to wait for the central database to accept a connection
CONNECT_TIMEOUT = 5
#: milliseconds a sent packet may stay unacknowledged before the link counts as cut
TCP_USER_TIMEOUT_MS = 10_000
#: milliseconds one statement may run on the server (a 10,000-event catch-up is ~1 s)
STATEMENT_TIMEOUT_MS = 30_000


def display_url(url: str) -> str:
    """``url`` as it may be shown or logged: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def central_engine(url: str) -> Engine:
    """An engine for the central database: one pooled connection, bounded waits.

    A central SQLite file (the demo, tests) gets the kiosk's own SQLite settings.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return make_engine(url)
    return create_engine(
        url,
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=False,  # the worker notices a dead connection and reconnects
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "application_name": "phonelocker-kiosk",
        },
    )
