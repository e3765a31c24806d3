"""One shape for a staff action on the dashboard: do it, commit, say so; or roll back and say why.

Every form that changes something (assign a card, approve a Year 5 pupil,
reset a password ...) did the same thing by hand::

    try:
        change(...)
    except ActionError as error:
        db.rollback(); flash(f"Not saved: {error}", "error")
    else:
        db.commit(); flash("Saved.", "ok")

:class:`staff_action` is that block, once::

    with staff_action("Not saved") as action:
        change(...)
        action.done("Saved.")
    if action.ok: ...

A refusal the person can act on (:class:`~kiosk.errors.ActionError`, or a
malformed value, :class:`~kiosk.inputs.InputError`) is flashed and swallowed;
anything else propagates, and the request's session is rolled back at teardown.
"""

from __future__ import annotations

from types import TracebackType

from flask import flash

from kiosk.errors import ActionError
from kiosk.inputs import InputError
from web.access import db_session


class staff_action:
    """Commit the request's session and flash ``done``'s message, or roll back and flash
    ``"{failure}: {error}"``."""

    def __init__(self, failure: str) -> None:
        self.failure = failure
        self.message: str | None = None
        self.ok = False

    def done(self, message: str) -> None:
        """What to tell the person once the change is committed."""
        self.message = message

    def __enter__(self) -> staff_action:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> bool:
        db = db_session()
        if error is None:
            db.commit()
            self.ok = True
            if self.message:
                flash(self.message, "ok")
            return False
        db.rollback()
        if isinstance(error, ActionError | InputError):
            flash(f"{self.failure}: {error}", "error")
            return True
        return False
