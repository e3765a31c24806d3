"""The exceptions register and staff special arrangements on the dashboard.

* ``/exceptions``: pupils who keep their phone by agreement. Everyone signed in
  sees it for the classes they may see (a teacher: their own pupils); office
  and admin add and end exceptions. Due for review (review date passed or
  within 14 days) is listed first.
* ``/arrangements``: staff special arrangements; office and admin only.

Every change is an event (``kiosk.registers``). A refused form is shown
again with what was typed and the reason, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from kiosk.errors import ActionError
from kiosk.inputs import InputError, parse_day
from kiosk.registers.arrangements import add_arrangement, end_arrangement, get_arrangement
from kiosk.registers.exceptions import (
    KINDS,
    add_exception,
    end_exception,
    get_exception,
    kind_words,
)
from kiosk.registers.queries import (
    arrangement_row,
    due_for_review,
    exception_row,
    list_arrangements,
    list_exceptions,
)
from kiosk.school.queries import local_today
from web.access import actor, db_session, login_required, office_required
from web.helpers import config, form_text, now
from web.picker import picked_pupil

bp = Blueprint("exceptions", __name__)

#: the lists of the Exceptions page, in order, by each row's ``standing``
SECTIONS = (
    ("in_force", "In force"),
    ("starts_later", "Starting later"),
    ("ended", "Ended"),
    ("expired", "Past their last day"),
)


@bp.app_template_filter("exception_kind")
def exception_kind(kind: str) -> str:
    """A kind code in staff words: ``young_carer`` -> "young carer"."""
    return kind_words(kind)


def _today() -> date:
    return local_today(config(), now())


def _form_day(name: str, what: str) -> date | None:
    raw = request.form.get(name, "").strip()
    return parse_day(raw, what) if raw else None


@bp.get("/exceptions")
@login_required
def index():
    """The register: due for review, in force, starting later, ended."""
    return _render_exceptions()


def _render_exceptions(form: dict | None = None, status: int = 200):
    from web.access import visible_classes

    db, today = db_session(), _today()
    rows = [exception_row(row, pupil, config(), today)
            for row, pupil in list_exceptions(db, classes=visible_classes())]
    sections = [(key, title, [r for r in rows if r["standing"] == key]) for key, title in SECTIONS]
    return render_template(
        "exceptions/index.html", due=due_for_review(rows), sections=sections, kinds=KINDS,
        form=form or {}, today=today,
    ), status


@bp.post("/exceptions")
@office_required
def add():
    """Record an exception for a pupil (office and admin)."""
    pupil = picked_pupil()
    db = db_session()
    try:
        row = add_exception(
            db, pupil, kind=request.form.get("kind", ""),
            reason=form_text("reason", max_length=2000),
            agreed_by=form_text("agreed_by", max_length=200), now=now(),
            zone=config().policy.zone, starts_on=_form_day("from", "From"),
            until=_form_day("until", "Until"), review_on=_form_day("review", "Review"),
            actor=actor(),
        )
    except (ActionError, InputError) as error:
        db.rollback()
        flash(f"Not recorded: {error}", "error")
        return _render_exceptions(form=request.form, status=400)
    db.commit()
    flash(f"done: {pupil.name} keeps their phone ({kind_words(row.kind)}).", "ok")
    return redirect(url_for("exceptions.index"))


@bp.post("/exceptions/<id:exception_id>/end")
@office_required
def end(exception_id: int):
    """End an exception today, with a reason (office and admin)."""
    return _end(get_exception, end_exception, exception_id, "exceptions.index",
                lambda row: f"the exception for {row.pupil.name} has ended; "
                            "they are expected to hand their phone in.")


def _end(get, finish, row_id: int, back: str, done: Callable[[Any], str]):
    """End a register entry (404 if there is none); a refusal is flashed, nothing lost."""
    db = db_session()
    try:
        row = get(db, row_id)
    except ActionError as error:
        abort(404, str(error))
    try:
        finish(db, row, by=actor(), reason=form_text("reason"), now=now())
    except ActionError as error:
        db.rollback()
        flash(f"Not ended: {error}", "error")
    else:
        db.commit()
        flash(f"done: {done(row)}", "ok")
    return redirect(url_for(back))


@bp.get("/arrangements")
@office_required
def arrangements():
    """Staff special arrangements (office and admin only)."""
    return _render_arrangements()


def _render_arrangements(form: dict | None = None, status: int = 200):
    today = _today()
    rows = [arrangement_row(row, config(), today) for row in list_arrangements(db_session())]
    sections = [(key, title, [r for r in rows if r["standing"] == key]) for key, title in SECTIONS]
    return render_template(
        "exceptions/arrangements.html", sections=sections, form=form or {}, today=today,
    ), status


@bp.post("/arrangements")
@office_required
def add_arrangement_view():
    """Record a staff special arrangement."""
    db = db_session()
    try:
        row = add_arrangement(
            db, staff_name=form_text("staff", max_length=200),
            arrangement=form_text("what", max_length=2000),
            agreed_by=form_text("agreed_by", max_length=200), now=now(),
            zone=config().policy.zone, starts_on=_form_day("from", "From"),
            until=_form_day("until", "Until"), actor=actor(),
        )
    except (ActionError, InputError) as error:
        db.rollback()
        flash(f"Not recorded: {error}", "error")
        return _render_arrangements(form=request.form, status=400)
    db.commit()
    flash(f"done: arrangement recorded for {row.staff_name}.", "ok")
    return redirect(url_for("exceptions.arrangements"))


@bp.post("/arrangements/<id:arrangement_id>/end")
@office_required
def end_arrangement_view(arrangement_id: int):
    """End a staff special arrangement today, with a reason."""
    return _end(get_arrangement, end_arrangement, arrangement_id, "exceptions.arrangements",
                lambda row: f"the arrangement for {row.staff_name} has ended.")
