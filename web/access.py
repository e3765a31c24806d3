"""Who is asking and what they may see: the signed-in user, role checks, class scope.

Roles: ``teacher`` sees only the classes assigned to them (``StaffClass``
rows) and changes nothing; ``office`` sees every class and does the office
actions; ``admin`` does everything office does and manages accounts. A
teacher never sees a card number of another class (:func:`scope_last_taps`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kiosk.store.models import Card, Pupil, StaffUser

log = logging.getLogger(__name__)

OFFICE_ROLES = ("office", "admin")


def db_session() -> Session:
    """The request's database session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["phonelocker"].db.session()
    return g.db_session


def close_db_session(_error: BaseException | None = None) -> None:
    db = g.pop("db_session", None)
    if db is not None:
        db.close()


def load_user() -> None:
    """``before_request``: put the signed-in, still-active account in ``g.user``."""
    g.user = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    user = db_session().get(StaffUser, user_id)
    if user is None or not user.active:
        log.info("session for a removed or disabled account ended")
        session.clear()
        return
    g.user = user


def actor() -> str:
    """The username recorded as ``actor`` on events."""
    return g.user.username


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def login_required(view: Callable) -> Callable:
    """Anonymous visitors are sent to the login page, then back here."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=safe_next(target)))
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: str) -> Callable[[Callable], Callable]:
    """Signed in with one of ``roles``, else 403 (anonymous: the login page)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args, **kwargs):
            if g.user.role not in roles:
                log.warning("user %s (%s) refused %s %s", g.user.username, g.user.role,
                            request.method, request.path)
                abort(403)
            return view(*args, **kwargs)

        return login_required(checked)

    return decorate


office_required = roles_required(*OFFICE_ROLES)
admin_required = roles_required("admin")


def can_office() -> bool:
    return g.get("user") is not None and g.user.role in OFFICE_ROLES


def in_visible_classes(query: Select) -> Select:
    """``query`` (over pupils) narrowed to the classes the user may see; all for office/admin."""
    classes = visible_classes()
    return query if classes is None else query.where(Pupil.class_name.in_(classes))


def visible_classes() -> list[str] | None:
    """The classes the user may see; None means all of them."""
    if g.user.role in OFFICE_ROLES:
        return None
    return sorted(c.class_name for c in g.user.classes)


def may_see(class_name: str) -> bool:
    classes = visible_classes()
    return classes is None or class_name in classes


def visible_pupil(pupil_id: int) -> Pupil:
    """The pupil, or 404 if there is none or they are in a class the user may not see."""
    pupil = db_session().get(Pupil, pupil_id)
    if pupil is None or not may_see(pupil.class_name):
        abort(404)
    return pupil


UNKNOWN_CARD = "unknown card"
ANOTHER_CLASS = "another class"


def _card_owner(uid: str) -> Pupil | None:
    """The pupil the card is (or, if revoked, was last) issued to."""
    query = (select(Pupil).join(Card, Card.pupil_id == Pupil.id).where(Card.uid == uid)
             .order_by(Card.active.desc(), Card.issued_at.desc()).limit(1))
    return db_session().scalars(query).first()


def scope_last_taps(lockers: list[dict]) -> list[dict]:
    """Each locker's last tap as the user may see it (``kiosk.school.queries.locker_states`` rows).

    Adds ``last_tap_who``: the pupil's name if the user may see their class,
    else "another class"; "unknown card" for a card nobody has. A teacher's
    rows lose ``last_tap_uid`` (None): card numbers are for office and admin.
    """
    classes = visible_classes()
    for locker in lockers:
        uid = locker.get("last_tap_uid")
        who = None
        if uid:
            pupil = _card_owner(uid)
            if pupil is None:
                who = UNKNOWN_CARD
            elif classes is None or pupil.class_name in classes:
                who = pupil.name
            else:
                who = ANOTHER_CLASS
            if classes is not None:
                locker["last_tap_uid"] = None
        locker["last_tap_who"] = who
    return lockers
