"""Office actions (office and admin only), each with a reason and audited.

* Emergency unlock of one bay, one locker or every locker: a command row the
  kiosk carries out (it records the ``override`` event with actor and reason);
  the page polls ``/api/commands/<id>`` and shows "done" or "kiosk offline".
* Early collection today: an ``early_release`` row and event (with a warning
  when the pupil's phone is not in a locker: nothing to collect).
* A phone handed back by the office or kept in the office overnight.
* The pupil of either form is picked by typing part of a name (:mod:`web.picker`).
* Open every bay (evacuation): typed confirmation, an ``open_all`` event with
  the phones held at that moment, and a printable list of whom to hand back to.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk.errors import ActionError
from kiosk.inputs import InputError, check_bay, check_text, parse_db_id
from kiosk.school.commands import DEFAULT_UNLOCK_SECONDS, kiosk_online, queue_unlock
from kiosk.school.evacuation import held_list, latest_open_all, open_all
from kiosk.school.pupils import office_takes_phone, release_early
from kiosk.school.queries import local_today, locker_states
from kiosk.store.events import Kind
from kiosk.store.models import Command, Event, Holding, Locker, Pupil
from web.access import actor, db_session, office_required
from web.actions import staff_action
from web.commandstatus import describe
from web.helpers import bad_request, config, form_int, form_text, now
from web.picker import picked_pupil

log = logging.getLogger(__name__)

bp = Blueprint("office", __name__)

#: how long an emergency unlock holds a lock open, as the form offers it: time for someone
#: to reach the locker, but short, as most small solenoids are made for pulses
UNLOCK_CHOICES = {10: "10 seconds", 30: "30 seconds", 60: "1 minute"}

#: what the office types to open every bay: a click alone must not evacuate the lockers
OPEN_ALL_WORDS = "OPEN ALL"

HANDBACK_KINDS = {"office_return": Kind.OFFICE_RETURN, "kept_in_office": Kind.KEPT_IN_OFFICE}


@bp.get("/office")
@office_required
def index():
    """The office page: unlock form, early collection, phones taken by the office."""
    db = db_session()
    ids = _command_ids()
    commands = [describe(db, c) for c in db.scalars(select(Command).where(Command.id.in_(ids)))]
    # The pickers fetch pupils as the office types (web/picker.py): no roll in the page.
    any_held = db.scalar(select(Holding.pupil_id).limit(1)) is not None
    return render_template(
        "office.html", lockers=locker_states(db, config(), now=now()), commands=commands,
        any_held=any_held, unlock_choices=UNLOCK_CHOICES,
        open_all_words=OPEN_ALL_WORDS, last_open_all=latest_open_all(db),
    )


def _target(text: str) -> tuple[str | None, int | None]:
    """``all``, ``locker:ID`` or ``bay:ID:N`` -> (locker id or None, bay or None)."""
    try:
        check_text(text, "target")
    except InputError as error:
        bad_request(error)
    kind, _, rest = text.partition(":")
    if kind == "all" and not rest:
        return None, None
    if kind == "locker" and rest:
        return rest, None
    locker, _, bay = rest.rpartition(":")
    if kind == "bay" and locker and bay.isascii() and bay.isdigit() and len(bay) <= 3:
        return locker, int(bay)
    abort(400, "unknown unlock target: use all, locker:ID or bay:ID:N")


@bp.post("/office/unlock")
@office_required
def unlock():
    """Queue an emergency unlock; refused at once if the kiosk is offline."""
    locker_id, bay = _target(request.form.get("target", ""))
    seconds = form_int("seconds")
    seconds = int(DEFAULT_UNLOCK_SECONDS) if seconds is None else seconds
    if seconds not in UNLOCK_CHOICES:
        abort(400, "unknown unlock time")
    reason = form_text("reason", max_length=500)
    db = db_session()
    if not reason:
        flash("An emergency unlock needs a reason.", "error")
        return redirect(url_for("office.index"))
    locker = db.get(Locker, locker_id) if locker_id is not None else None
    if locker_id is not None and locker is None:
        abort(400, "no such locker")
    if locker is not None:
        try:
            check_bay(bay, (b.number for b in locker.bays), what=f"{locker.id} bay")
        except InputError as error:
            bad_request(error)
    if not kiosk_online(db, locker_id, max_age=config().web.offline_after_seconds, now=now()):
        flash("kiosk offline: no fresh heartbeat, nothing was unlocked. Use the locker's key.",
              "error")
        return redirect(url_for("office.index"))
    commands = queue_unlock(db, actor=actor(), reason=reason, locker_id=locker_id, bay=bay,
                            seconds=seconds, now=now())
    db.commit()
    log.info("unlock %s/%s queued by %s", locker_id or "all", bay or "all", actor())
    ids = ",".join(str(c.id) for c in commands)
    return redirect(url_for("office.index", commands=ids))


def _command_ids() -> list[int]:
    try:
        return [parse_db_id(part, "commands") for part in
                request.args.get("commands", "").split(",")[:100] if part.strip()]
    except InputError as error:
        bad_request(error)


@bp.post("/office/open-all")
@office_required
def open_every_bay():
    """Evacuation: every bay of every locker opens, after "OPEN ALL" is typed."""
    seconds = form_int("seconds")
    seconds = int(DEFAULT_UNLOCK_SECONDS) if seconds is None else seconds
    if seconds not in UNLOCK_CHOICES:
        abort(400, "unknown unlock time")
    reason = form_text("reason", max_length=500)
    typed = " ".join(form_text("confirm", max_length=50).split()).upper()
    if typed != OPEN_ALL_WORDS:
        flash(f"Nothing was opened: type {OPEN_ALL_WORDS} to open every bay.", "error")
        return redirect(url_for("office.index"))
    if not reason:
        flash("Opening every bay needs a reason.", "error")
        return redirect(url_for("office.index"))
    db = db_session()
    if not kiosk_online(db, None, max_age=config().web.offline_after_seconds):
        flash("kiosk offline: no fresh heartbeat, nothing was unlocked. Use the locker's key.",
              "error")
        return redirect(url_for("office.index"))
    try:
        opened = open_all(db, actor=actor(), reason=reason, seconds=seconds, now=now())
    except ActionError as error:
        db.rollback()
        flash(f"Nothing was opened: {error}", "error")
        return redirect(url_for("office.index"))
    db.commit()
    log.warning("open all bays by %s: %s", actor(), reason)
    ids = ",".join(str(c.id) for c in opened.commands)
    return redirect(url_for("office.open_all_list", event_id=opened.event.id, commands=ids))


@bp.get("/office/open-all/<id:event_id>")
@office_required
def open_all_list(event_id: int):
    """Whose phones were in the lockers when every bay was opened: printable."""
    db = db_session()
    event = db.get(Event, event_id)
    if event is None or event.kind != Kind.OPEN_ALL:
        abort(404)
    ids = _command_ids()
    commands = [describe(db, c) for c in db.scalars(select(Command).where(Command.id.in_(ids)))]
    return render_template("office_open_all.html", event=event, rows=held_list(db, event),
                           commands=commands)


def _back(pupil: Pupil):
    """Back to the pupil's page if the form was there, else to the office page."""
    if request.form.get("back") == "pupil":
        return redirect(url_for("pupils.detail", pupil_id=pupil.id))
    return redirect(url_for("office.index"))


@bp.post("/office/release")
@office_required
def release():
    """Authorise an early collection today for one pupil.

    A pupil whose phone is not in a locker is still given the release (a parent
    may be on the way whatever the phone's state), with a warning that there is
    nothing to collect: the office then knows not to send them to the locker.
    """
    pupil = picked_pupil()
    db = db_session()
    with staff_action("Not authorised") as action:
        moment = now()
        release_early(db, pupil, by=actor(), reason=form_text("reason"),
                      on_date=local_today(config(), moment), now=moment)
        action.done(f"done: {pupil.name} may collect their phone early today.")
    if action.ok and db.get(Holding, pupil.id) is None:
        flash(f"{pupil.name}'s phone is not in a locker today — the release is recorded, "
              "but there is nothing to collect.", "warn")
    return _back(pupil)


@bp.post("/office/handback")
@office_required
def handback():
    """Record that the office took a phone out: handed back, or kept in the office."""
    kind = HANDBACK_KINDS.get(request.form.get("kind", ""))
    if kind is None:
        abort(400, "kind must be office_return or kept_in_office")
    pupil = picked_pupil(held_only=True)
    db = db_session()
    what = "handed back by the office" if kind is Kind.OFFICE_RETURN else "kept in the office"
    with staff_action("Not recorded") as action:
        office_takes_phone(db, pupil, actor=actor(), reason=form_text("reason"), kind=kind,
                           now=now())
        action.done(f"done: {pupil.name}'s phone recorded as {what}.")
    return _back(pupil)


@bp.get("/api/commands/<id:command_id>")
@office_required
def api_command(command_id: int):
    """A command's status for the page that sent it: done, waiting or kiosk offline."""
    db = db_session()
    command = db.get(Command, command_id)
    if command is None:
        abort(404)
    return jsonify(describe(db, command))
