"""The pupil picker of the office forms: type part of a name, pick the pupil.

Every office form that takes a pupil has one text field ``pupil`` (a
``<datalist>`` that ``app.js`` fills from ``/pupils/search`` as the office
types) and a hidden ``pupil_id`` that the script sets when a suggestion is
picked. Without the script the text alone is enough: :func:`picked_pupil`
resolves it on the server, one match being that pupil, several a "which one?"
page that posts the same form again with everything else that was typed
(``pupils/choose.html``). Nothing is ever preselected: a form sent without a
pupil gets "choose a pupil".

The roll is not shipped in the pages: at 2,000 pupils a ``<select>`` or a
full ``<datalist>`` is tens of kilobytes on every office page.
"""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    abort,
    jsonify,
    make_response,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from kiosk.school.queries import surname_key
from kiosk.store.models import Holding, Pupil
from web.access import db_session, in_visible_classes, office_required, visible_pupil
from web.helpers import arg_text, form_id, form_text

bp = Blueprint("picker", __name__)

#: suggestions per search, and candidates on the "which one?" page
MAX_RESULTS = 20
#: a suggestion's label, "Amara Okafor (6K)": what the text field holds once one is picked
LABEL = re.compile(r"^(?P<name>.+?)\s*\((?P<class_name>[^()]+)\)$")
#: fields of the form that the "which one?" page does not carry over as they were
PICKER_FIELDS = {"pupil", "pupil_id", "csrf_token"}


def label(name: str, class_name: str) -> str:
    """What a suggestion says and what the text field holds: ``"Amara Okafor (6K)"``."""
    return f"{name} ({class_name})"


def find_pupils(text: str, *, held_only: bool = False, limit: int = MAX_RESULTS) -> list[Pupil]:
    """Active pupils the user may see whose name contains ``text`` (any case), sorted by
    surname; at most ``limit``. ``held_only``: only those whose phone is in a locker.

    A label (``"Amara Okafor (6K)"``) finds that pupil exactly. The name test is
    Python's ``casefold`` rather than SQL ``LIKE``, which folds only ASCII in
    SQLite ("zoë" must find "ZOË").
    """
    needle = " ".join(text.split())
    if not needle:
        return []
    query = in_visible_classes(select(Pupil).where(Pupil.active))
    if held_only:
        query = query.where(Pupil.id.in_(select(Holding.pupil_id)))
    exact = LABEL.match(needle)
    if exact:
        named = query.where(Pupil.name == exact["name"], Pupil.class_name == exact["class_name"])
        found = list(db_session().scalars(named))
        if found:
            return found[:limit]
    folded = needle.casefold()
    # Only the name is read for the test; the few matches are then loaded whole.
    rows = [{"id": pupil_id, "name": name} for pupil_id, name
            in db_session().execute(query.with_only_columns(Pupil.id, Pupil.name))
            if folded in name.casefold()]
    ids = [row["id"] for row in sorted(rows, key=surname_key)][:limit]
    if not ids:
        return []
    pupils = {p.id: p for p in db_session().scalars(select(Pupil).where(Pupil.id.in_(ids)))}
    return [pupils[pupil_id] for pupil_id in ids]


@bp.get("/pupils/search")
@office_required
def search():
    """Suggestions for the picker: ``?q=`` part of a name (``&held=1``: phones in a locker
    only) -> ``[{"id", "name", "class", "year", "label"}]``, at most 20, by surname."""
    text = arg_text("q", max_length=100)
    pupils = find_pupils(text, held_only=request.args.get("held") == "1")
    return jsonify([
        {"id": p.id, "name": p.name, "class": p.class_name, "year": p.year,
         "label": label(p.name, p.class_name)}
        for p in pupils
    ])


def picked_pupil(*, held_only: bool = False) -> Pupil:
    """The pupil the form names, by ``pupil_id`` (picked) or else the typed ``pupil``.

    If the text names no pupil, or several, the request ends here with the
    "which one?" page (HTTP 400 / 200), which keeps every other field of the form.
    """
    pupil_id = form_id("pupil_id")
    if pupil_id is not None:
        return visible_pupil(pupil_id)
    text = form_text("pupil", max_length=200)
    found = find_pupils(text, held_only=held_only, limit=MAX_RESULTS + 1)
    if len(found) == 1:
        return found[0]
    if not text:
        message = "Nothing was done: choose a pupil (type part of their name)."
    elif not found:
        whose = "no phone in a locker belongs to a pupil" if held_only else "no pupil"
        message = f"Nothing was done: {whose} matches “{text}”."
    else:
        more = " (the first 20; type more of the name)" if len(found) > MAX_RESULTS else ""
        message = f"Several pupils match “{text}”: which one?{more}"
    carried = [(key, value) for key, value in request.form.items(multi=True)
               if key not in PICKER_FIELDS]
    referrer = request.referrer or ""
    back = referrer if referrer.startswith(request.host_url) else url_for("office.index")
    page = render_template(
        "pupils/choose.html", message=message, candidates=found[:MAX_RESULTS], text=text,
        carried=carried, action=request.path, held_only=held_only, back=back,
    )
    # abort(Response) raises an HTTPException whose code is None; Flask's
    # handle_http_exception returns such a one as it is, so the app's error page
    # handler leaves this page alone.
    abort(make_response(page, 200 if found else 400))
