"""The emulator panel, only when the hardware is emulated (udp reader and mock pins).

A virtual locker drawn from the kiosk's heartbeat (each bay's lock and door,
the LEDs) and a button per pupil that taps their card on the emulated reader
with :func:`hardware.virtual_card.present_card`: the same path as
``phonelocker tap``, so the kiosk's real reader code reads it.

Any signed-in user may use it (it is a demo of the kiosk, not an office
action), but only with the cards of pupils they can see. Taps run in a
background thread, one at a time: a second tap while a card is still on the
reader is refused with 409.
"""

from __future__ import annotations

import logging
import secrets
import threading

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from kiosk.reports.words import tap_result_words
from kiosk.school.queries import locker_states
from kiosk.store.models import Card, Pupil
from web.access import (
    db_session,
    in_visible_classes,
    login_required,
    scope_last_taps,
    visible_pupil,
)
from web.helpers import config, form_id, now, state

log = logging.getLogger(__name__)

bp = Blueprint("emulator", __name__)


class VirtualCards:
    """Presents one virtual card at a time to the emulated reader, off the request thread.

    The panel's "Virtual card" line is about the latest tap only: it starts as
    "on the reader" (replacing the line of the tap before), then says what the
    kiosk did with it once the kiosk's heartbeat reports a newer tap of that
    card (:meth:`message`), or why the card could not be presented.
    """

    def __init__(self, path: str, present=None) -> None:
        self.path = path
        #: ``present(uid, hold=, path=, timeout=)``; tests may pass a fake
        self.present = present
        self.last_result: str | None = None
        self._uid: str | None = None
        self._before: dict[str, tuple] = {}  # each locker's last tap (uid, time) before it
        self._failed = False
        self._busy = threading.Lock()

    def tap(self, uid: str, before: dict[str, tuple] | None = None) -> bool:
        """Start presenting ``uid``; False if a card is already on the reader.
        ``before``: each locker's last tap ``(uid, at)`` as it was, to tell this tap's
        result from an earlier one (the heartbeat's times are whole seconds)."""
        if not self._busy.acquire(blocking=False):
            return False
        self._uid, self._before, self._failed = uid, dict(before or {}), False
        self.last_result = f"card {uid} is on the reader…"
        thread = threading.Thread(target=self._present, args=(uid,), name="virtual-card",
                                  daemon=True)
        thread.start()
        return True

    def _present(self, uid: str) -> None:
        from hardware.errors import HardwareError
        from hardware.virtual_card import present_card

        try:
            (self.present or present_card)(uid, hold=0.5, path=self.path, timeout=5.0)
            self.last_result = f"card {uid} read by the reader; waiting for the kiosk…"
        except HardwareError as error:
            self._failed = True
            self.last_result = f"card {uid}: {error}"
        except Exception as error:  # a failed demo tap must not kill the web process
            log.exception("virtual card %s failed", uid)
            self._failed = True
            self.last_result = f"card {uid}: {error}"
        finally:
            self._busy.release()
        log.info("virtual tap: %s", self.last_result)

    def message(self, lockers: list[dict]) -> str | None:
        """The line for the panel, given ``locker_states`` rows (before any scoping)."""
        if self._uid is not None and not self._failed:
            for locker in lockers:
                last = (locker.get("last_tap_uid"), locker.get("last_tap_at"))
                if last[0] == self._uid and last[1] and last != self._before.get(locker["id"]):
                    return f"card {self._uid}: {tap_result_words(locker['last_tap_result'])}"
        return self.last_result


def _cards() -> VirtualCards:
    if not config().emulated:
        abort(404)
    extensions = current_app.extensions
    if "phonelocker_cards" not in extensions:
        cards = VirtualCards(state().config.reader.device, current_app.config.get("PRESENT_CARD"))
        extensions.setdefault("phonelocker_cards", cards)
    return extensions["phonelocker_cards"]


def _panel() -> dict:
    lockers = locker_states(db_session(), config(), now=now())
    message = _cards().message(lockers)  # before scoping hides the card numbers
    return {"lockers": scope_last_taps(lockers), "last_result": message}


@bp.get("/emulator")
@login_required
def index():
    """The virtual locker and a tap button per pupil the user can see."""
    panel = _panel()
    query = (select(Pupil, Card.uid).join(Card, (Card.pupil_id == Pupil.id) & Card.active)
             .where(Pupil.active).order_by(Pupil.class_name, Pupil.name))
    query = in_visible_classes(query)
    pupils = db_session().execute(query).all()
    return render_template("emulator.html", pupils=pupils,
                           poll_ms=current_app.config["POLL_MILLISECONDS"] // 2, **panel)


@bp.get("/api/emulator")
@login_required
def api_state():
    """The virtual locker's state and re-rendered section, polled by the panel."""
    panel = _panel()
    html = render_template("partials/virtual_locker.html", **panel)
    return jsonify({**panel, "html": {"locker": html}})


@bp.post("/emulator/tap")
@login_required
def tap():
    """Tap a pupil's card (``pupil_id``) or a new unknown card (``unknown=1``)."""
    cards = _cards()
    pupil_id = form_id("pupil_id")
    if pupil_id is not None:
        pupil = visible_pupil(pupil_id)
        uid = next((c.uid for c in pupil.cards if c.active), None)
        if uid is None:
            abort(400, "that pupil has no card")
    else:
        uid = "04" + secrets.token_hex(6).upper()  # a 7-byte UID no pupil has
    wants_json = request.accept_mimetypes.best == "application/json"
    before = {row["id"]: (row["last_tap_uid"], row["last_tap_at"])
              for row in locker_states(db_session(), config(), now=now())}
    if not cards.tap(uid, before):
        message = "a card is still on the reader: wait a second"
        if wants_json:
            return jsonify({"message": message}), 409
        abort(409, message)
    message = f"card {uid} tapped"
    if wants_json:
        return jsonify({"message": message})
    flash(message, "ok")
    return redirect(url_for("emulator.index"))
