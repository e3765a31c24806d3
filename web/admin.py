"""Admin: staff accounts (create, role, classes, email, disable, reset password) and settings.

Admin only. Accounts go through :mod:`kiosk.school.staff`, as ``phonelocker users``
does, so the password policy and the audit events are the same. An admin
cannot disable or demote their own account (so the school is never left
without one by accident); the settings page only shows the config file.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from sqlalchemy.engine import make_url

from kiosk.errors import ActionError
from kiosk.school import staff
from kiosk.store.models import StaffUser
from web.access import actor, admin_required, db_session
from web.actions import staff_action
from web.helpers import config, form_text
from web.pupils import class_names

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _classes_field() -> list[str]:
    return [part for part in form_text("classes", max_length=1000).split(",") if part.strip()]


@bp.get("/users")
@admin_required
def users():
    """Every account with its role, classes and whether it is active."""
    return render_template("admin/users.html", users=staff.list_users(db_session()))


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    """Create an account; the admin types its first password twice."""
    if request.method == "POST":
        db = db_session()
        password = request.form.get("password", "")
        with staff_action("Not created") as action:
            if password != request.form.get("again", ""):
                raise ActionError("the two passwords differ")
            user = staff.create_user(
                db, form_text("username", max_length=64), password,
                role=request.form.get("role", ""), classes=_classes_field(), actor=actor(),
                email=form_text("email", max_length=254),
            )
            action.done(f"Account {user.username} created.")
        if action.ok:
            log.info("account %s created by %s", user.username, actor())
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", account=None, form=request.form,
                           roles=staff.ROLES, class_names=class_names())


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int):
    """Change an account's role, classes or active flag."""
    db = db_session()
    account = db.get(StaffUser, user_id) or abort(404)
    if request.method == "POST":
        role = request.form.get("role", account.role)
        active = request.form.get("active") == "1"
        with staff_action("Not saved") as action:
            if account.id == g.user.id and (role != "admin" or not active):
                raise ActionError("you cannot demote or disable your own account")
            changed = staff.update_user(db, account, actor=actor(), role=role,
                                        classes=_classes_field(), active=active,
                                        email=form_text("email", max_length=254))
            action.done(f"Saved: {'; '.join(changed)}." if changed else "Nothing changed.")
        if action.ok:
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", account=account, form=request.form,
                           roles=staff.ROLES, class_names=class_names())


@bp.post("/users/<id:user_id>/password")
@admin_required
def reset_password(user_id: int):
    """Set a new password for an account (tell its owner to change it)."""
    db = db_session()
    account = db.get(StaffUser, user_id) or abort(404)
    password = request.form.get("password", "")
    with staff_action("Password not changed") as action:
        if password != request.form.get("again", ""):
            raise ActionError("the two passwords differ")
        staff.set_password(db, account, password, actor=actor())
        action.done(f"Password for {account.username} changed.")
    return redirect(url_for("admin.edit_user", user_id=account.id))


@bp.get("/settings")
@admin_required
def settings():
    """The running configuration, read-only (a database password is hidden)."""
    cfg = config()
    database_url = make_url(cfg.database.url).render_as_string(hide_password=True)
    return render_template("admin/settings.html", cfg=cfg, database_url=database_url)
