"""History: events filtered by date range, class, pupil and kind; CSV export, streamed.

A teacher sees only events about pupils in their classes; office and admin
see everything, including events about no pupil (overrides, logins).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import UTC

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from sqlalchemy import Select, select

from kiosk.policy import local_day_bounds
from kiosk.school.queries import iso_local
from kiosk.store.events import Kind
from kiosk.store.models import Event, Pupil
from web.access import actor, db_session, in_visible_classes, login_required
from web.helpers import arg_date, arg_text, config, form_id, local, now, state
from web.pupils import class_names

log = logging.getLogger(__name__)

bp = Blueprint("history", __name__)

PAGE_ROWS = 500
CSV_COLUMNS = ("time", "kind", "pupil_id", "pupil", "class", "card", "locker", "bay", "actor",
               "reason")
KINDS = [kind.value for kind in Kind]


def _filters() -> dict:
    """The filters from the query string, checked here so a bad one is a 400 before any
    output (the CSV export streams: once its 200 has started it cannot turn into an error)."""
    today = local(now()).date()
    start = arg_date("from", today)
    end = arg_date("to", today)
    if end < start:
        start, end = end, start
    kind = request.args.get("kind", "")
    if kind and kind not in KINDS:
        abort(400, f"kind must be one of {', '.join(KINDS)}")
    return {
        "from": start,
        "to": end,
        "class": arg_text("class", max_length=64),
        "pupil": form_id("pupil", source=request.args),
        "kind": kind,
    }


def _query(filters: dict) -> Select:
    """Events (newest first) with the pupil's name and class, within the user's scope."""
    zone = config().policy.zone
    since = local_day_bounds(filters["from"], zone)[0].astimezone(UTC).replace(tzinfo=None)
    until = local_day_bounds(filters["to"], zone)[1].astimezone(UTC).replace(tzinfo=None)
    query = (
        select(Event, Pupil.name, Pupil.class_name)
        .outerjoin(Pupil, Pupil.id == Event.pupil_id)
        .where(Event.at >= since, Event.at < until)
        .order_by(Event.at.desc(), Event.id.desc())
    )
    query = in_visible_classes(query)
    if filters["class"]:
        query = query.where(Pupil.class_name == filters["class"])
    if filters["pupil"] is not None:
        query = query.where(Event.pupil_id == filters["pupil"])
    if filters["kind"]:
        query = query.where(Event.kind == filters["kind"])
    return query


def _pupil_choices() -> list[Pupil]:
    query = select(Pupil).order_by(Pupil.class_name, Pupil.name)
    query = in_visible_classes(query)
    return list(db_session().scalars(query))


@bp.get("/history")
@login_required
def index():
    """The newest :data:`PAGE_ROWS` matching events, and the filter form."""
    filters = _filters()
    rows = db_session().execute(_query(filters).limit(PAGE_ROWS + 1)).all()
    return render_template(
        "history.html", rows=rows[:PAGE_ROWS], more=len(rows) > PAGE_ROWS, filters=filters,
        kinds=KINDS, class_names=class_names(), pupils=_pupil_choices(),
    )


def _cell(value) -> str:
    """Text for a CSV cell; a leading = + - @ is defused so a spreadsheet shows, not runs, it."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/history.csv")
@login_required
def export():
    """Every matching event as CSV (UTF-8 with BOM, for Excel), streamed row by row."""
    query = _query(_filters()).execution_options(yield_per=500)
    db, cfg = state().db, config()
    log.info("events exported by %s", actor())

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def line(values) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_cell(v) for v in values])
            return buffer.getvalue()

        yield "\ufeff" + line(CSV_COLUMNS)
        with db.session() as session:
            for event, name, class_name in session.execute(query):
                yield line((
                    iso_local(event.at, cfg), event.kind, event.pupil_id, name, class_name,
                    event.card_uid, event.locker_id, event.bay, event.actor, event.reason,
                ))

    stamp = local(now()).date().isoformat()  # the school's day on the app's clock
    return Response(
        stream_with_context(generate()), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="phonelocker-events-{stamp}.csv"'},
    )
