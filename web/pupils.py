"""Pupils: the list, one pupil's page (state, cards, approvals, history), add, edit, leave.

Everyone signed in sees the pupils of their own classes; only office and
admin change anything. Every change goes through :mod:`kiosk.school.pupils`, which
records the event with the user as actor.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk.errors import ActionError
from kiosk.inputs import InputError, check_bay
from kiosk.school.pupils import add_pupil, known_bays, update_pupil
from kiosk.school.queries import (
    local_today,
    name_key,
    pupil_states,
    query_events,
    recent_unknown_cards,
    roll,
)
from kiosk.store.models import Command, Pupil
from web.access import (
    actor,
    can_office,
    db_session,
    in_visible_classes,
    login_required,
    office_required,
    visible_classes,
    visible_pupil,
)
from web.actions import staff_action
from web.commandstatus import describe
from web.helpers import arg_text, config, form_id, form_int, form_text, now

log = logging.getLogger(__name__)

bp = Blueprint("pupils", __name__, url_prefix="/pupils")

HISTORY_ROWS = 200
#: pupils per page of the list
PAGE_PUPILS = 100


@bp.app_template_global()
def pupil_url(pupil_id: int) -> str:
    """``url_for("pupils.detail", pupil_id=...)``, the route built once per request: a big
    school's Today links a few hundred names (a full ``url_for`` each costs more than the
    rest of the name's markup)."""
    prefix = g.get("pupil_url_prefix")
    if prefix is None:
        prefix = g.pupil_url_prefix = url_for("pupils.detail", pupil_id=1)[:-1]
    return f"{prefix}{int(pupil_id)}"


def class_names() -> list[str]:
    """Classes the user may see that have at least one pupil, for filters and forms."""
    query = select(Pupil.class_name).distinct().order_by(Pupil.class_name)
    query = in_visible_classes(query)
    return list(db_session().scalars(query))


@bp.get("")
@login_required
def index():
    """Pupils of the user's classes, sorted by surname, :data:`PAGE_PUPILS` a page
    (``?page=N``); optionally one class (``?class=``), a part of a name (``?q=``),
    with leavers (``?left=1``)."""
    wanted = arg_text("class", max_length=64) or None
    needle = arg_text("q", max_length=100)
    show_left = request.args.get("left") == "1"
    page = form_int("page", source=request.args, minimum=1, maximum=100_000) or 1
    classes = visible_classes()
    if wanted is not None:
        classes = [wanted] if classes is None or wanted in classes else []
    db = db_session()
    # Names only for the whole roll (filter, sort, count); today's states for one page.
    everyone = roll(db, classes=classes, include_inactive=show_left)
    if needle:
        folded = needle.casefold()
        everyone = [row for row in everyone if folded in row[1].casefold()]
    # surname, then as pupil_states orders its rows (class, name, id)
    everyone.sort(key=lambda row: (name_key(row[1]), row[2], row[1], row[0]))
    pages = max(1, -(-len(everyone) // PAGE_PUPILS))
    page = min(page, pages)
    shown = [row[0] for row in everyone[(page - 1) * PAGE_PUPILS:page * PAGE_PUPILS]]
    states = {row["id"]: row for row in pupil_states(
        db, config(), now=now(), pupil_ids=shown, include_inactive=show_left)["pupils"]}
    return render_template(
        "pupils/index.html", pupils=[states[pupil_id] for pupil_id in shown if pupil_id in states],
        class_names=class_names(), wanted=wanted, show_left=show_left, q=needle,
        page=page, pages=pages, total=len(everyone),
    )


@bp.get("/<id:pupil_id>")
@login_required
def detail(pupil_id: int):
    """One pupil: today's state, cards (with revoked ones), Year 5 approvals, history."""
    pupil = visible_pupil(pupil_id)
    db = db_session()
    states = pupil_states(db, config(), now=now(), classes=[pupil.class_name],
                          include_inactive=True)["pupils"]
    today = next((row for row in states if row["id"] == pupil.id), None)
    events = list(query_events(db, pupil_id=pupil.id, newest_first=True, limit=HISTORY_ROWS))
    command = None
    command_id = form_id("command", source=request.args)
    if command_id is not None and can_office():
        row = db.get(Command, command_id)
        if row is not None and row.pupil_id == pupil.id:
            command = describe(db, row)
    unknown = recent_unknown_cards(db, now=now()) if can_office() else []
    # pupil_states decided it ("allowed" is a Year 5 approval in force): one rule, not two
    approval_in_force = pupil.year == 5 and today is not None and today["allowed"]
    return render_template(
        "pupils/detail.html", pupil=pupil, today=today, events=events, command=command,
        unknown_cards=unknown, approval_in_force=approval_in_force,
        local_date=local_today(config(), now()),
    )


def _pupil_fields() -> dict:
    year = form_int("year", minimum=0, maximum=99)
    if year is None:
        raise ActionError("a pupil needs a year")
    bay = form_int("bay", minimum=1, maximum=999)
    try:
        check_bay(bay, known_bays(db_session(), config()))
    except InputError as error:
        raise ActionError(str(error)) from None
    return {
        "name": form_text("name", max_length=200),
        "year": year,
        "class_name": form_text("class_name", max_length=64),
        "bay": bay,
    }


@bp.route("/new", methods=["GET", "POST"])
@office_required
def new():
    """Add one pupil (and optionally their card)."""
    if request.method == "POST":
        db = db_session()
        with staff_action("Not added") as action:
            pupil = add_pupil(
                db, **_pupil_fields(), actor=actor(),
                external_id=form_text("external_id", max_length=64) or None,
                card_uid=form_text("card_uid", max_length=40) or None, now=now(),
            )
            action.done(f"Added {pupil.name}.")
        if action.ok:
            log.info("pupil %d added by %s", pupil.id, actor())
            return redirect(url_for("pupils.detail", pupil_id=pupil.id))
    return render_template("pupils/form.html", pupil=None, form=request.form,
                           class_names=class_names())


@bp.route("/<id:pupil_id>/edit", methods=["GET", "POST"])
@office_required
def edit(pupil_id: int):
    """Change name, year, class or bay."""
    pupil = visible_pupil(pupil_id)
    if request.method == "POST":
        db = db_session()
        with staff_action("Not saved") as action:
            changed = update_pupil(db, pupil, actor=actor(), **_pupil_fields(), now=now())
            action.done(f"Saved: {', '.join(changed)}." if changed else "Nothing changed.")
        if action.ok:
            return redirect(url_for("pupils.detail", pupil_id=pupil.id))
    return render_template("pupils/form.html", pupil=pupil, form=request.form,
                           class_names=class_names())


@bp.post("/<id:pupil_id>/active")
@office_required
def set_active(pupil_id: int):
    """Deactivate a pupil who has left (their cards are refused, history kept), or undo it."""
    pupil = visible_pupil(pupil_id)
    active = request.form.get("active")
    if active not in ("0", "1"):
        abort(400, "active must be 0 or 1")
    db = db_session()
    update_pupil(db, pupil, actor=actor(), active=active == "1", now=now())
    db.commit()
    flash(f"{pupil.name} is {'active again' if active == '1' else 'marked as left'}.", "ok")
    return redirect(url_for("pupils.detail", pupil_id=pupil.id))
