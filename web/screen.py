"""The locker screen: big words for pupils at the locker, on an optional HDMI screen.

The kiosk answers a tap with lights and a beep; a screen beside the locker
can also say why ("Collection opens at 15:15"). ``/screen`` shows the last
tap's message for :data:`HOLD_SECONDS`, then "Tap your card", and says when
the locker is offline or the reader has a fault. It never shows a name or a
card number: the queue can read it.

Chromium on the Pi itself opens it without signing in (a request from the
loopback address); from anywhere else it needs a staff login, like every
other page. Behind a reverse proxy on the same Pi, set ``[web]
trusted_proxy`` so that visitors are not all seen as the Pi itself.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from functools import wraps

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from kiosk.calendar.days import school_day_on
from kiosk.policy import collection_time, tap_message
from kiosk.school.heartbeats import heartbeat_fresh
from kiosk.store.models import KioskStatus, Locker
from kiosk.store.runtime_status import current_fault
from web.access import db_session, login_required
from web.helpers import config, local, now

bp = Blueprint("screen", __name__)

#: how long a tap's message stays up: one pupil reads it while the next steps up
HOLD_SECONDS = 6.0
POLL_MILLISECONDS = 500


def from_this_machine() -> bool:
    """The request came from the loopback address (the Pi's own screen)."""
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def local_or_login_required(view):
    """The Pi's own screen needs no login; any other visitor signs in as staff."""
    guarded = login_required(view)

    @wraps(view)
    def checked(*args, **kwargs):
        if from_this_machine():
            return view(*args, **kwargs)
        return guarded(*args, **kwargs)

    return checked


def _locker_id() -> str:
    """``?locker=ID``, else this config's locker; 404 for a locker that does not exist."""
    locker_id = request.args.get("locker") or config().locker.id
    if db_session().get(Locker, locker_id) is None:
        abort(404, f"no locker {locker_id!r}")
    return locker_id


def screen_state(locker_id: str, moment: datetime) -> dict:
    """What the screen shows now: ``tone`` (idle, ok, refused, fault) and ``message``."""
    cfg = config()
    status = db_session().get(KioskStatus, locker_id)
    now_utc = moment.astimezone(UTC).replace(tzinfo=None)
    local_now = moment.astimezone(cfg.policy.zone)
    today = school_day_on(db_session(), local_now.date())
    opens_at = collection_time(cfg.policy, local_now.date(), today)
    state = {
        "locker": locker_id,
        "tone": "idle",
        "message": "Tap your card",
        "detail": ("No school today: phones can be collected" if today and today.closed
                   else f"Phones can be collected from {opens_at:%H:%M}"),
        "online": False,
        "reader_ok": False,
    }
    fault = current_fault(cfg, locker_id, moment)
    if fault is not None:  # the kiosk cannot record taps: the heartbeat may be stale
        problem = fault["problem"]
        shut = all(bay.get("locked") for bay in fault.get("bays") or [])
        return {
            **state, "tone": "fault", "message": problem[:1].upper() + problem[1:],
            "detail": ("Phones stay locked in. " if shut else "") + "See the office",
            "online": status is not None and heartbeat_fresh(
                status, now_utc, cfg.web.offline_after_seconds),
            "reader_ok": bool(fault.get("reader_ok")),
            "problem": problem,
        }
    if status is None:
        return {**state, "tone": "fault", "message": "Locker not started yet", "detail": ""}
    state["online"] = heartbeat_fresh(status, now_utc, cfg.web.offline_after_seconds)
    state["reader_ok"] = bool(state["online"] and status.reader_ok)
    if not state["online"]:
        return {**state, "tone": "fault", "message": "Locker offline", "detail": "See the office"}
    if not state["reader_ok"]:
        return {**state, "tone": "fault", "message": "Card reader not working",
                "detail": "Tell your teacher"}
    if status.last_tap_at is not None and status.last_tap_result:
        since = (now_utc - status.last_tap_at).total_seconds()
        if 0 <= since < HOLD_SECONDS:
            tapped_on = local(status.last_tap_at).date()
            opened = opens_at if tapped_on == local_now.date() else collection_time(
                cfg.policy, tapped_on, school_day_on(db_session(), tapped_on))
            tone, message = tap_message(status.last_tap_result, opened)
            state.update(tone=tone, message=message, detail="")
    return state


@bp.get("/screen")
@local_or_login_required
def index():
    """The full-screen page for a display at the locker."""
    locker_id = _locker_id()
    state = screen_state(locker_id, now())
    poll_ms = min(POLL_MILLISECONDS, current_app.config["POLL_MILLISECONDS"])
    return render_template("screen.html", state=state, locker_id=locker_id, poll_ms=poll_ms)


@bp.get("/api/screen")
@local_or_login_required
def api_screen():
    """The screen's state and its re-rendered panel, polled by the page."""
    state = screen_state(_locker_id(), now())
    html = render_template("partials/screen_panel.html", state=state)
    return jsonify({**state, "html": {"screen": html}})
