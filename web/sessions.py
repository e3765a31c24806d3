"""Server-side sessions kept in the web process's memory.

The cookie holds only a random id (256 bits); the data stays on the server.
That is what lets logout really end a session (a copied cookie is worthless
afterwards) and lets login issue a brand-new id (:func:`renew`), so an id
planted before login is never a logged-in one.

Trade-offs, on purpose: ``phonelocker web`` is one process (waitress runs
threads), so a dict behind a lock is enough; restarting the dashboard logs
everyone out. Sessions end after :data:`IDLE_SECONDS` without a request or
:data:`MAX_AGE_SECONDS` after they began. The store holds at most
``max_sessions``; beyond that the least recently used go first, anonymous ones
(a login form's CSRF token) before signed-in ones.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

IDLE_SECONDS = 4 * 3600
MAX_AGE_SECONDS = 14 * 3600
MAX_SESSIONS = 5000


class ServerSession(CallbackDict, SessionMixin):
    """Session data with the id it is stored under (None until first saved)."""

    def __init__(self, initial: dict | None = None, sid: str | None = None) -> None:
        def on_update(self: ServerSession) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.renew = False
        self.modified = False


def renew(session: Any) -> None:
    """Give ``session`` a fresh id when the response is sent; the old id stops working."""
    session.renew = True
    session.modified = True


class MemorySessionInterface(SessionInterface):
    """Flask session interface backed by a dict: ``{sid: (data, started, last_seen)}``."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, clock=time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.clock = clock
        self._store: dict[str, tuple[dict, float, float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._store)

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid:
            return ServerSession()
        now = self.clock()
        with self._lock:
            entry = self._store.get(sid)
            if entry is None:
                return ServerSession()
            data, started, last_seen = entry
            if now - last_seen > IDLE_SECONDS or now - started > MAX_AGE_SECONDS:
                del self._store[sid]
                return ServerSession()
            self._store[sid] = (data, started, now)
        return ServerSession(dict(data), sid)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session:
            if session.sid is not None:
                with self._lock:
                    self._store.pop(session.sid, None)
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not session.modified and session.sid is not None:
            return
        now = self.clock()
        with self._lock:
            previous = self._store.get(session.sid) if session.sid else None
            new_cookie = session.sid is None or session.renew
            if new_cookie:
                if session.sid is not None:
                    self._store.pop(session.sid, None)
                session.sid = secrets.token_urlsafe(32)
                session.renew = False
            started = previous[1] if previous and not new_cookie else now
            self._store[session.sid] = (dict(session), started, now)
            self._evict()
        if new_cookie:
            secure = self.get_cookie_secure(app) or request.is_secure
            response.set_cookie(
                name, session.sid, httponly=self.get_cookie_httponly(app), secure=secure,
                samesite=self.get_cookie_samesite(app), domain=domain, path=path,
            )
        response.vary.add("Cookie")

    def _evict(self) -> None:
        """Drop the least recently used sessions beyond the limit (caller holds the lock)."""
        excess = len(self._store) - self.max_sessions
        if excess <= 0:
            return
        by_age = sorted(
            self._store.items(), key=lambda item: ("user_id" in item[1][0], item[1][2])
        )
        for sid, _entry in by_age[:excess]:
            del self._store[sid]
