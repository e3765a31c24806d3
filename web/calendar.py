"""The calendar page (office and admin): term dates, closed days, early finishes, closing early.

Teachers do not edit the calendar; they see its effect on Today (the banner
and the collection time). Each form posts, is audited by
:mod:`kiosk.calendar.days` and redirects with a message; a mistake is a
message too (never a 500), and a CSV with mistakes changes nothing and lists
them by line.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for

from kiosk.calendar.days import (
    CalendarImportError,
    clear_day,
    close_early,
    describe,
    entry,
    import_days,
    list_days,
    parse_csv,
    parse_hhmm,
    set_day,
)
from kiosk.errors import ActionError
from kiosk.inputs import InputError, parse_day
from kiosk.school.queries import local_today
from web.access import actor, db_session, office_required
from web.helpers import config, form_text, now

log = logging.getLogger(__name__)

bp = Blueprint("calendar", __name__)

#: past dates shown on the page (older ones stay in the database and the CLI's list)
PAST_DAYS_SHOWN = 60


def _page(errors: list[str]) -> str:
    today = local_today(config(), now())
    days = list_days(db_session(), since=today - timedelta(days=PAST_DAYS_SHOWN))
    return render_template(
        "calendar.html", today=today, errors=errors,
        coming=[d for d in days if d.on_date >= today],
        past=[d for d in days if d.on_date < today][::-1],
    )


@bp.get("/calendar")
@office_required
def index():
    """The year's dates: coming up, then the recent past; the forms to change them."""
    return _page([])


def _form_day(name: str = "date"):
    try:
        return parse_day(form_text(name, max_length=20), "date")
    except InputError as error:
        raise ActionError(str(error)) from None


@bp.post("/calendar/set")
@office_required
def set_date():
    """Set one date: closed, or collection from a time."""
    db = db_session()
    try:
        day = _form_day()
        closed = request.form.get("mode") == "closed"
        raw_time = form_text("collect_from", max_length=20)
        collect_from = None if closed else parse_hhmm(raw_time, "collection time")
        item = entry(day, closed=closed, collect_from=collect_from,
                     reason=form_text("reason"))
        set_day(db, item, by=actor(), now=now())
    except (ActionError, InputError) as error:
        db.rollback()
        flash(f"Not set: {error}", "error")
    else:
        db.commit()
        flash(f"done: {describe(item.on_date, item.closed, item.collect_from, item.reason)}",
              "ok")
    return redirect(url_for("calendar.index"))


@bp.post("/calendar/clear")
@office_required
def clear():
    """Remove one date's entry: the usual collection time applies again."""
    db = db_session()
    try:
        day = _form_day()
        clear_day(db, day, by=actor(), now=now())
    except (ActionError, InputError) as error:
        db.rollback()
        flash(f"Not cleared: {error}", "error")
    else:
        db.commit()
        flash(f"done: {day:%A} {day.day} {day:%B} follows the usual times again.", "ok")
    return redirect(url_for("calendar.index"))


@bp.post("/calendar/import")
@office_required
def import_csv():
    """Set every date in a CSV (``date,closed,collect_from,reason``), all or nothing."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file first.", "error")
        return redirect(url_for("calendar.index"))
    db = db_session()
    try:
        count = import_days(db, parse_csv(upload.read()), by=actor(), now=now())
    except CalendarImportError as error:
        db.rollback()
        return _page(error.errors), 400
    db.commit()
    log.info("calendar import by %s: %d dates", actor(), count)
    flash(f"done: {count} date(s) imported.", "ok")
    return redirect(url_for("calendar.index"))


@bp.post("/calendar/close-early")
@office_required
def close_early_today():
    """School closing early: collection from now, today; every Today page says so."""
    db = db_session()
    try:
        day = close_early(db, config().policy, reason=form_text("reason"), by=actor(),
                          now=now())
    except (ActionError, InputError) as error:
        db.rollback()
        flash(f"Not done: {error}", "error")
    else:
        db.commit()
        log.warning("school closing early, by %s: %s", actor(), day.reason)
        flash(f"done: school closing early — phones may be collected from "
              f"{day.collect_from:%H:%M} ({day.reason}).", "ok")
    if request.form.get("back") == "calendar":
        return redirect(url_for("calendar.index"))
    return redirect(url_for("office.index"))
