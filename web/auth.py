"""Log in, log out, change one's own password.

Failed logins are counted per username and client address, and per address
across usernames; after ``LOGIN_MAX_FAILURES`` for one pair (or
``LOGIN_MAX_FAILURES_PER_ADDRESS`` from one address) within
``LOGIN_WINDOW_SECONDS`` the login answers 429 until the window has passed. Each
failure is logged and recorded as a ``login_failed`` event (the username as typed is the actor).
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from kiosk.errors import ActionError
from kiosk.school import staff
from kiosk.store.events import Kind, record_event
from kiosk.timeutil import naive_utc
from web.access import actor, db_session, login_required, safe_next
from web.helpers import form_text, now, state
from web.sessions import renew

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


def _client() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success a new session (new id, nothing carried over) begins."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(next_url or url_for("today.index"))
        return render_template("login.html", next=next_url)
    username = form_text("username", max_length=200)
    password = request.form.get("password", "")
    limiter = state().limiter
    db = db_session()
    if limiter.blocked(username, _client()):
        log.warning("login refused for %r from %s: too many failures", username, _client())
        message = "Too many failed attempts. Wait five minutes, then try again."
        return render_template("login.html", next=next_url, error=message), 429
    user = staff.authenticate(db, username, password) if username and password else None
    if user is None:
        count = limiter.failed(username, _client())
        log.warning("failed login for %r from %s (%d recently)", username, _client(), count)
        record_event(db, Kind.LOGIN_FAILED, at=naive_utc(now()), actor=username[:64] or "(blank)",
                     reason=f"from {_client()}, failure {count}")
        db.commit()
        status = 429 if limiter.blocked(username, _client()) else 401
        return render_template(
            "login.html", next=next_url, username=username,
            error="Wrong username or password.",
        ), status
    limiter.succeeded(username, _client())
    session.clear()
    session["user_id"] = user.id
    renew(session)
    # the app's clock, as every other record the dashboard writes
    record_event(db, Kind.LOGIN, at=naive_utc(now()), actor=user.username,
                 reason=f"from {_client()}")
    db.commit()
    log.info("user %s logged in from %s", user.username, _client())
    return redirect(next_url or url_for("today.index"))


@bp.post("/logout")
def logout():
    """End the session (its id is forgotten by the server) and go to the login page."""
    if g.user is not None:
        log.info("user %s logged out", g.user.username)
    session.clear()
    flash("You are logged out.", "ok")
    renew(session)
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password (the current one is asked again); other sessions end."""
    if request.method == "POST":
        db = db_session()
        current = request.form.get("current", "")
        new, again = request.form.get("new", ""), request.form.get("again", "")
        if staff.authenticate(db, g.user.username, current) is None:
            flash("The current password is not right.", "error")
        elif new != again:
            flash("The two new passwords differ.", "error")
        else:
            try:
                staff.set_password(db, g.user, new, actor=actor())
            except ActionError as error:
                flash(f"Not changed: {error}.", "error")
            else:
                db.commit()
                # set_password ended every session of this account, this one too:
                # this browser carries on under a new token, the others are signed out.
                renew(session)
                flash("Password changed.", "ok")
                return redirect(url_for("today.index"))
    return render_template("password.html")
