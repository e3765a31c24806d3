"""A pupil's card and Year 5 approval: enrol by tapping, pick an unknown card, revoke; approve.

Office and admin only. Enrolling by tapping queues an ``enrol`` command; the
pupil page then polls ``/api/commands/<id>`` and shows "card … assigned to …",
"no card tapped" or "kiosk offline" as the kiosk reports it.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, url_for

from kiosk.errors import ActionError
from kiosk.inputs import parse_day
from kiosk.school.commands import kiosk_online, queue_enrol
from kiosk.school.pupils import approve_year5, assign_card, normalise_uid, revoke_card, revoke_year5
from kiosk.school.queries import local_today
from web.access import actor, db_session, office_required, visible_pupil
from web.actions import staff_action
from web.helpers import config, form_text, now

log = logging.getLogger(__name__)

bp = Blueprint("cards", __name__, url_prefix="/pupils")


def _back(pupil_id: int, **args):
    return redirect(url_for("pupils.detail", pupil_id=pupil_id, **args) + "#cards")


@bp.post("/<id:pupil_id>/enrol")
@office_required
def enrol(pupil_id: int):
    """Ask the kiosk to give the next card tapped on its reader to this pupil."""
    pupil = visible_pupil(pupil_id)
    db = db_session()
    if not kiosk_online(db, None, max_age=config().web.offline_after_seconds, now=now()):
        flash("kiosk offline: the kiosk has no fresh heartbeat, so it cannot read a card now. "
              "Type the card's number instead, or start the kiosk.", "error")
        return _back(pupil.id)
    command = queue_enrol(db, pupil_id=pupil.id, actor=actor(), now=now())
    db.commit()
    log.info("enrol command %d queued by %s", command.id, actor())
    return _back(pupil.id, command=command.id)


@bp.post("/<id:pupil_id>/cards")
@office_required
def assign(pupil_id: int):
    """Give the pupil a card by its UID (typed, or picked from recently refused unknown cards)."""
    pupil = visible_pupil(pupil_id)
    db = db_session()
    with staff_action("No card assigned") as action:
        card = assign_card(db, pupil, form_text("uid", max_length=40), actor=actor(),
                           now=now())
        action.done(f"card {card.uid} assigned to {pupil.name}")
    return _back(pupil.id)


@bp.post("/<id:pupil_id>/cards/revoke")
@office_required
def revoke(pupil_id: int):
    """Cancel a lost card: refused from now on, kept in the pupil's history."""
    pupil = visible_pupil(pupil_id)
    db = db_session()
    reason = form_text("reason", max_length=200)
    with staff_action("Not revoked") as action:
        if not reason:  # typed, never assumed: the history must say why
            raise ActionError("say why the card is revoked (e.g. lost)")
        uid = normalise_uid(form_text("uid", max_length=40))
        if uid not in {card.uid for card in pupil.cards if card.active}:
            raise ActionError(f"{pupil.name} has no active card {uid}")
        revoke_card(db, uid, actor=actor(), reason=reason, now=now())
        action.done(f"card {uid} revoked: it will be refused from now on")
    return _back(pupil.id)


@bp.post("/<id:pupil_id>/approval")
@office_required
def approve(pupil_id: int):
    """Record who on the senior leadership team agreed, and optionally until when."""
    pupil = visible_pupil(pupil_id)
    db = db_session()
    until_text = form_text("until", max_length=20)
    with staff_action("Not approved") as action:
        until = parse_day(until_text, "until") if until_text else None
        moment = now()
        approve_year5(db, pupil, by=form_text("by", max_length=200), until=until, actor=actor(),
                      now=moment, today=local_today(config(), moment))
        action.done(f"Year 5 approval recorded for {pupil.name}.")
    return _back(pupil.id)


@bp.post("/<id:pupil_id>/approval/revoke")
@office_required
def unapprove(pupil_id: int):
    """End the pupil's Year 5 approval (a reason is required)."""
    pupil = visible_pupil(pupil_id)
    db = db_session()
    reason = form_text("reason", max_length=500)
    if not reason:
        flash("Say why the approval ends.", "error")
        return _back(pupil.id)
    count = revoke_year5(db, pupil, actor=actor(), reason=reason, now=now())
    db.commit()
    flash("Approval ended." if count else "There was no approval in force.", "ok")
    return _back(pupil.id)
