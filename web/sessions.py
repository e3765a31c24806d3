"""Server-side sessions kept in the database (the ``web_sessions`` table).

The cookie holds only a random token (256 bits); the table holds its
SHA-256 and the session's data. That is what lets logout really end a session
(a copied cookie is worthless afterwards), lets login issue a brand-new token
(:func:`renew`) so one planted before login is never a logged-in one, lets a
password change or an admin's reset, disable or role change end the account's
other sessions (:func:`kiosk.school.staff.end_sessions` deletes their rows), and lets
sessions survive a restart of ``phonelocker web``.

Sessions end after :data:`IDLE_SECONDS` without a request or
:data:`MAX_AGE_SECONDS` after they began. ``last_seen_at`` is written at most
every :data:`TOUCH_SECONDS`, so the Today page polling every second costs a
read, not a write. Expired rows are deleted when a new session is made (at
most every :data:`PURGE_SECONDS`); anonymous sessions (a login form's CSRF
token) beyond :data:`MAX_ANONYMOUS` are dropped oldest first.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, func, select, update
from werkzeug.datastructures import CallbackDict

from kiosk.store.models import WebSession
from kiosk.timeutil import utcnow

log = logging.getLogger(__name__)

IDLE_SECONDS = 4 * 3600
MAX_AGE_SECONDS = 14 * 3600
TOUCH_SECONDS = 60
PURGE_SECONDS = 600
MAX_ANONYMOUS = 5000


def session_key(token: str) -> str:
    """The row id for a cookie token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    """Session data with the token it is stored under (None until first saved)."""

    def __init__(self, initial: dict | None = None, token: str | None = None) -> None:
        def on_update(self: ServerSession) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.token = token
        self.renew = False
        self.modified = False

    @property
    def key(self) -> str | None:
        """This session's row id, or None if it has not been stored yet."""
        return session_key(self.token) if self.token else None


def renew(session: Any) -> None:
    """Give ``session`` a fresh token when the response is sent; the old one stops working."""
    session.renew = True
    session.modified = True


class DatabaseSessionInterface(SessionInterface):
    """Flask's session seam over ``web_sessions`` in the app's database.

    ``clock`` returns naive UTC (as stored); it is the real clock, not the
    app's ``CLOCK``, because a session's age is wall time.
    """

    serializer = TaggedJSONSerializer()

    def __init__(self, clock: Callable[[], datetime] = utcnow,
                 max_anonymous: int = MAX_ANONYMOUS) -> None:
        self.clock = clock
        self.max_anonymous = max_anonymous
        self._last_purge: datetime | None = None
        self._purge_lock = threading.Lock()

    @staticmethod
    def _db(app: Flask):
        return app.extensions["phonelocker"].db

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) > 200:
            return ServerSession()
        now = self.clock()
        with self._db(app).session() as db:
            row = db.get(WebSession, session_key(token))
            if row is None:
                return ServerSession()
            if now >= row.expires_at or now - row.last_seen_at > timedelta(seconds=IDLE_SECONDS):
                db.delete(row)
                db.commit()
                return ServerSession()
            try:
                data = self.serializer.loads(row.data)
            except ValueError:
                log.warning("session data unreadable; starting a new session")
                return ServerSession()
            if now - row.last_seen_at >= timedelta(seconds=TOUCH_SECONDS):
                row.last_seen_at = now
                db.commit()
        return ServerSession(data, token)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session:
            if session.token is not None:
                self._delete(app, session.key)
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not session.modified and session.token is not None:
            return
        now = self.clock()
        new_cookie = session.token is None or session.renew
        data = self.serializer.dumps(dict(session))
        user_id = session.get("user_id")
        with self._db(app).session() as db:
            if new_cookie:
                if session.token is not None:
                    db.execute(delete(WebSession).where(WebSession.id == session.key))
                session.token = secrets.token_urlsafe(32)
                session.renew = False
                db.add(WebSession(
                    id=session.key, user_id=user_id, data=data, created_at=now,
                    last_seen_at=now, expires_at=now + timedelta(seconds=MAX_AGE_SECONDS),
                ))
            else:
                # An UPDATE, never an insert: a row deleted meanwhile (the account's
                # sessions were ended) must stay deleted.
                db.execute(
                    update(WebSession).where(WebSession.id == session.key)
                    .values(data=data, user_id=user_id, last_seen_at=now)
                )
            db.commit()
        if new_cookie:
            self._tidy(app, now)
            secure = self.get_cookie_secure(app) or request.is_secure
            response.set_cookie(
                name, session.token, httponly=self.get_cookie_httponly(app), secure=secure,
                samesite=self.get_cookie_samesite(app), domain=domain, path=path,
            )
        response.vary.add("Cookie")

    def _delete(self, app: Flask, key: str | None) -> None:
        with self._db(app).session() as db:
            db.execute(delete(WebSession).where(WebSession.id == key))
            db.commit()

    def _tidy(self, app: Flask, now: datetime) -> None:
        """Delete expired rows (now and then) and the oldest anonymous ones beyond the cap."""
        with self._purge_lock:
            due = self._last_purge is None or now - self._last_purge >= timedelta(
                seconds=PURGE_SECONDS)
            if due:
                self._last_purge = now
        with self._db(app).session() as db:
            if due:
                purge_expired(db, now)
            anonymous = WebSession.user_id.is_(None)
            count = db.scalar(select(func.count()).select_from(WebSession).where(anonymous))
            excess = (count or 0) - self.max_anonymous
            if excess > 0:
                oldest = select(WebSession.id).where(anonymous).order_by(
                    WebSession.last_seen_at).limit(excess)
                db.execute(delete(WebSession).where(WebSession.id.in_(oldest)))
            db.commit()


def purge_expired(db, now: datetime | None = None) -> int:
    """Delete sessions past their maximum age or idle too long; return how many (caller commits)."""
    now = now or utcnow()
    result = db.execute(
        delete(WebSession).where(
            (WebSession.expires_at <= now)
            | (WebSession.last_seen_at < now - timedelta(seconds=IDLE_SECONDS))
        )
    )
    return result.rowcount or 0
