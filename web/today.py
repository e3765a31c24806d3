"""The Today page (the home page) and the JSON it refreshes itself from.

The page is rendered once on the server; ``static/app.js`` then fetches
``/api/today`` every second and swaps in the sections whose HTML changed.
The JSON carries the data (for anything else that wants it) and the same
sections rendered by the same Jinja partials, so there is one way to draw a
pupil row and Jinja's escaping covers the live updates too.
"""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, current_app, jsonify, render_template

from kiosk.registers.queries import count_due_for_review
from kiosk.school.queries import locker_states, pupil_states
from kiosk.store.runtime_status import with_faults
from web.access import (
    can_office,
    db_session,
    login_required,
    scope_last_taps,
    visible_classes,
)
from web.helpers import config, now

bp = Blueprint("today", __name__)

SECTIONS = {
    "date": "partials/today_date.html",
    "calendar": "partials/today_calendar.html",
    "summary": "partials/today_summary.html",
    "classes": "partials/today_classes.html",
    "lockers": "partials/lockers.html",
}


def today_view() -> dict:
    """Everything the Today page shows, for the user's classes only."""
    cfg, moment = config(), now()
    db = db_session()
    document = pupil_states(db, cfg, now=moment, classes=visible_classes())
    pupils = document["pupils"]
    local_now = moment.astimezone(cfg.policy.zone)
    # the day's time: the calendar's when set (closing early, an early finish), else [policy];
    # none on a closed day (collection is open all day)
    collection_time = document["collection_time"]
    return {
        "date": document["date"],
        "now": local_now.isoformat(timespec="seconds"),
        "collection_time": collection_time,
        "calendar": document["calendar"],
        "after_collection": (collection_time is None
                             or local_now.strftime("%H:%M") >= collection_time),
        "pupils": pupils,
        # No pupils is not "all handed in": the page says so instead of an all-clear.
        "no_pupils": not pupils,
        "classes": [
            {"name": name, "pupils": list(rows)}
            for name, rows in groupby(pupils, key=lambda row: row["class"])
        ],
        "not_collected": [p for p in pupils if p["state"] == "in_locker"],
        "not_handed_in": [p for p in pupils if _expected(p)],
        "overnight": [p for p in pupils if p["overnight"]],
        "counts": {
            "in_locker": sum(p["state"] == "in_locker" for p in pupils),
            "collected": sum(p["state"] == "collected" for p in pupils),
            "not_handed_in": sum(_expected(p) for p in pupils),
            "refused_taps": sum(p["refused_today"] for p in pupils),
            "overnight": sum(p["overnight"] for p in pupils),
        },
        "lockers": _lockers(db, cfg, moment),
        # the office's notice: exceptions whose review date has passed or is near
        "exceptions_due": (
            count_due_for_review(db, local_now.date(), cfg.policy.zone) if can_office() else 0
        ),
    }


def _expected(pupil: dict) -> bool:
    """Should have handed a phone in and has not: allowed one, no agreed exception."""
    return pupil["allowed"] and pupil["state"] == "not_handed_in" and not pupil["exception"]


def _lockers(db, cfg, moment) -> list[dict]:
    """The heartbeats, corrected by a kiosk's status file when it cannot record taps,
    with each last tap shown only as far as the viewer may see it."""
    return scope_last_taps(with_faults(locker_states(db, cfg, now=moment), cfg, moment))


def _sections(view: dict, names: tuple[str, ...]) -> dict[str, str]:
    return {name: render_template(SECTIONS[name], **view) for name in names}


@bp.get("/")
@login_required
def index():
    """Per class: each pupil's phone today; the lists that need action; the lockers."""
    view = today_view()
    return render_template(
        "today.html", poll_ms=current_app.config["POLL_MILLISECONDS"], **view
    )


@bp.get("/api/today")
@login_required
def api_today():
    """The Today page's data and its re-rendered sections, polled by the page."""
    view = today_view()
    html = _sections(view, tuple(SECTIONS))
    data = {key: value for key, value in view.items() if key != "classes"}
    return jsonify({**data, "html": html})


@bp.get("/api/lockers")
@login_required
def api_lockers():
    """Each locker's heartbeat: online, reader, bays, doors, LEDs, last tap (whose, if allowed)."""
    lockers = _lockers(db_session(), config(), now())
    html = render_template(SECTIONS["lockers"], lockers=lockers)
    return jsonify({"lockers": lockers, "html": {"lockers": html}})
