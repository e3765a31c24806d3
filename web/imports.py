"""Import pupils from a CSV export: upload, preview (with row errors), confirm.

The same importer as ``phonelocker pupils import`` (:mod:`kiosk.school.importer`).
The preview flags a row whose year does not match its class ("Year 9" in
class 6K); confirming such a file needs a tick that the office has checked them.
Between preview and confirm the uploaded bytes wait in a private temporary
folder (0700, files 0600) under a random token that is kept in the user's
session, so nobody else can confirm them; they are deleted on confirm and
after :data:`KEEP_SECONDS` anyway.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from kiosk.errors import ActionError
from kiosk.school.importer import ImportResult, apply_import
from kiosk.school.pupil_csv import ImportPlan, parse_pupils_csv
from web.access import actor, db_session, office_required
from web.helpers import state

log = logging.getLogger(__name__)

bp = Blueprint("imports", __name__, url_prefix="/pupils/import")

KEEP_SECONDS = 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _spool(token: str) -> Path:
    if not TOKEN.match(token):
        abort(400, "bad import token")
    return state().import_dir / f"import-{token}.csv"


def _prune() -> None:
    """Delete uploads nobody confirmed."""
    cutoff = time.time() - KEEP_SECONDS
    for path in state().import_dir.glob("import-*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def _store(data: bytes) -> str:
    token = secrets.token_urlsafe(24)
    directory = state().import_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(_spool(token), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return token


@bp.get("")
@office_required
def upload_form():
    """The upload form."""
    return render_template("pupils/import.html", plan=None)


@bp.post("")
@office_required
def preview():
    """Check the file and show what would happen; nothing is written yet."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file first.", "error")
        return redirect(url_for("imports.upload_form"))
    data = upload.read()
    plan = parse_pupils_csv(data)
    result, problem, token = None, None, None
    if plan.ok:
        db = db_session()
        try:
            result = apply_import(db, plan, actor=actor(), dry_run=True)
        except ActionError as error:
            problem = str(error)
        finally:
            db.rollback()
    if result is not None:
        _prune()
        token = _store(data)
        session["import_token"] = token
        session["import_filename"] = upload.filename[:200]
    log.info("import preview by %s: %d rows, %d errors", actor(), len(plan.rows),
             len(plan.errors))
    return _preview_page(plan, result, problem=problem, token=token, filename=upload.filename)


def _preview_page(plan: ImportPlan, result: ImportResult | None, *, problem: str | None = None,
                  token: str | None = None, filename: str = "", status: int = 200):
    """The preview: each row's outcome with the year, class and card the file gives, and a
    flag where the year does not match the class (confirming then needs a tick)."""
    read = {row.row: row for row in plan.rows}
    rows = [(outcome, read.get(outcome.row), plan.mismatches.get(outcome.row))
            for outcome in (result.rows if result else [])]
    page = render_template("pupils/import.html", plan=plan, result=result, rows=rows,
                           problem=problem, token=token, filename=filename)
    return page, status


@bp.post("/confirm")
@office_required
def confirm():
    """Import the previewed file (all or nothing) and say what changed."""
    token = request.form.get("token", "")
    if not token or token != session.get("import_token"):
        flash("That preview has expired: upload the file again.", "error")
        return redirect(url_for("imports.upload_form"))
    path = _spool(token)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        flash("That preview has expired: upload the file again.", "error")
        return redirect(url_for("imports.upload_form"))
    plan = parse_pupils_csv(data)
    db = db_session()
    if plan.mismatches and request.form.get("mismatches_checked") != "1":
        # Shown again, the upload kept: the office ticks past the flagged rows or cancels.
        try:
            result = apply_import(db, plan, actor=actor(), dry_run=True)
        except ActionError as error:
            flash(f"Nothing was imported: {error}", "error")
            return redirect(url_for("imports.upload_form"))
        finally:
            db.rollback()
        flash("Nothing was imported yet: tick the box to confirm the rows whose year does not "
              "match the class.", "error")
        return _preview_page(plan, result, token=token, status=400,
                             filename=session.get("import_filename", "the file"))
    session.pop("import_token", None)
    try:
        result = apply_import(db, plan, actor=actor())
    except ActionError as error:
        db.rollback()
        flash(f"Nothing was imported: {error}", "error")
        return redirect(url_for("imports.upload_form"))
    finally:
        path.unlink(missing_ok=True)
    db.commit()
    log.info("import by %s: %s", actor(), result.summary)
    flash(f"Imported: {result.summary}.", "ok")
    return redirect(url_for("pupils.index"))
