"""History: events filtered by date range, class, pupil and kind; paged; CSV export, streamed.

A teacher sees only events about pupils in their classes; office and admin
see everything, including events about no pupil (overrides, logins).

The CSV export reads plain column rows in chunks of :data:`CSV_CHUNK` events,
each chunk in its own short read transaction (keyset paging on ``(at, id)``,
newest first), and sends each chunk as it is read: memory stays constant for
a year of a big school, and no read transaction stays open for the whole
download (SQLite WAL readers never block the kiosk's writes, but a long one
keeps the WAL from being checkpointed).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import UTC

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from sqlalchemy import Select, select, tuple_

from kiosk.policy import Refusal, local_day_bounds
from kiosk.reports.words import (
    PUPIL_KINDS,
    CollectionTimes,
    date_range_words,
    event_words,
    place_words,
)
from kiosk.school.queries import local_iso, surname_key
from kiosk.store.events import Kind
from kiosk.store.models import Event, Locker, Pupil
from web.access import actor, db_session, in_visible_classes, login_required, visible_classes
from web.helpers import arg_date, arg_text, config, form_id, form_int, local, now, state
from web.pupils import class_names

log = logging.getLogger(__name__)

bp = Blueprint("history", __name__)

PAGE_ROWS = 500
#: events read per chunk (and per read transaction) by the CSV export
CSV_CHUNK = 5000
#: the deepest History page (OFFSET paging; the CSV has everything)
MAX_PAGE = 1000
#: the codes' columns stay as they were (scripts read them); "what" and "where" (added
#: last) say the same in the words staff use: "refused — card not recognised",
#: "Class 6K locker, bay 1"
CSV_COLUMNS = ("time", "kind", "pupil_id", "pupil", "class", "card", "locker", "bay", "actor",
               "reason", "what", "where")
KINDS = [kind.value for kind in Kind]


def visible_kinds() -> list[str]:
    """The kinds the user can find events of: a teacher sees only events about pupils of
    their classes (web/access.py), so only the kinds such an event can have."""
    if visible_classes() is None:
        return KINDS
    return [kind for kind in KINDS if kind in PUPIL_KINDS]


def _filters() -> dict:
    """The filters from the query string, checked here so a bad one is a 400 before any
    output (the CSV export streams: once its 200 has started it cannot turn into an error)."""
    today = local(now()).date()
    start = arg_date("from", today)
    end = arg_date("to", today)
    corrected = ""
    if end < start:
        start, end = end, start
        corrected = "'to' was before 'from', so they were swapped"
    kind = request.args.get("kind", "")
    kinds = visible_kinds()
    if kind and kind not in kinds:
        abort(400, f"kind must be one of {', '.join(kinds)}")
    return {
        "from": start,
        "to": end,
        #: what was changed in the range asked for, said on the page ("" for nothing)
        "corrected": corrected,
        "class": arg_text("class", max_length=64),
        "pupil": form_id("pupil", source=request.args),
        "kind": kind,
    }


def _query(filters: dict, columns=(Event,), before: tuple | None = None) -> Select:
    """Events (newest first) with the pupil's name and class, within the user's scope.

    ``columns`` are what to select of the event (the ORM object by default);
    ``before`` an ``(at, id)`` to start after (the CSV's next chunk)."""
    zone = config().policy.zone
    since = local_day_bounds(filters["from"], zone)[0].astimezone(UTC).replace(tzinfo=None)
    until = local_day_bounds(filters["to"], zone)[1].astimezone(UTC).replace(tzinfo=None)
    query = (
        select(*columns, Pupil.__table__.c.name, Pupil.__table__.c.class_name)
        .outerjoin(Pupil, Pupil.id == Event.pupil_id)
        .order_by(Event.at.desc(), Event.id.desc())
    )
    if before is None:
        query = query.where(Event.at >= since, Event.at < until)
    else:
        # ``at <= before`` is the index range's upper end (SQLite uses one bound per side,
        # and does not search ix_events_at on the row value); ties on ``at`` go by id.
        query = query.where(Event.at >= since, Event.at <= before[0],
                            tuple_(Event.at, Event.id) < tuple_(*before))
    query = in_visible_classes(query)
    if filters["class"]:
        query = query.where(Pupil.class_name == filters["class"])
    if filters["pupil"] is not None:
        query = query.where(Event.pupil_id == filters["pupil"])
    if filters["kind"]:
        query = query.where(Event.kind == filters["kind"])
    return query


def _pupil_choices() -> list:
    """(id, name, class_name) rows of the pupils the user may pick."""
    query = select(Pupil.id, Pupil.name, Pupil.class_name).order_by(Pupil.class_name, Pupil.id)
    query = in_visible_classes(query)
    rows = db_session().execute(query).all()
    return sorted(rows, key=lambda row: (row.class_name, surname_key({"name": row.name})))


@bp.get("/history")
@login_required
def index():
    """One page (``?page=N``) of :data:`PAGE_ROWS` matching events, newest first, and the
    filter form."""
    filters = _filters()
    page = form_int("page", source=request.args, minimum=1, maximum=MAX_PAGE) or 1
    rows = db_session().execute(
        _query(filters).offset((page - 1) * PAGE_ROWS).limit(PAGE_ROWS + 1)
    ).all()
    return render_template(
        "history.html", rows=rows[:PAGE_ROWS], more=len(rows) > PAGE_ROWS, filters=filters,
        kinds=visible_kinds(), class_names=class_names(), pupils=_pupil_choices(), page=page,
        page_rows=PAGE_ROWS, max_page=MAX_PAGE,
        showing=date_range_words(filters["from"], filters["to"], local(now()).date()),
    )


def _cell(value) -> str:
    """Text for a CSV cell; a leading = + - @ is defused so a spreadsheet shows, not runs, it."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/history.csv")
@login_required
def export():
    """Every matching event as CSV (UTF-8 with BOM, for Excel), streamed chunk by chunk."""
    events = Event.__table__.c  # table columns: plain rows, no ORM loading
    columns = (events.id, events.at, events.kind, events.pupil_id, events.card_uid,
               events.locker_id, events.bay, events.actor, events.reason)
    filters = _filters()
    query = _query(filters, columns).limit(CSV_CHUNK)
    db, cfg = state().db, config()
    log.info("events exported by %s", actor())
    opening_times: dict = {}  # collection time per date, shared by the chunks

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        iso = local_iso(cfg)

        def text(rows) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(rows)
            return buffer.getvalue()

        yield "\ufeff" + text([CSV_COLUMNS])
        chunk = query
        names = None
        # The words are the same for every event of a kind (a refusal: of a reason; a
        # too-early one: of a day) and every locker and bay: worked out once each.
        whats: dict[tuple, str] = {}
        places: dict[tuple, str] = {}

        def what(row, times: CollectionTimes) -> str:
            if row.kind == Kind.REFUSED and row.reason == Refusal.TOO_EARLY:
                return times.event_words(row.kind, row.reason, row.at)
            key = (row.kind, row.reason if row.kind == Kind.REFUSED else None)
            found = whats.get(key)
            if found is None:
                found = whats[key] = event_words(*key)
            return found

        def where(row) -> str:
            key = (row.locker_id, row.bay)
            found = places.get(key)
            if found is None:
                found = places[key] = _cell(place_words(names.get(row.locker_id), row.bay,
                                                        row.locker_id))
            return found

        while True:
            with db.session() as session:  # one short read transaction per chunk
                rows = session.execute(chunk).all()
                if names is None:
                    names = dict(session.execute(select(Locker.id, Locker.name)).all())
                times = CollectionTimes(session, cfg, opening_times)
                whats_of = [what(row, times) for row in rows]
            # Only the free-text cells can start with = + - @ (kind, ids and times cannot).
            yield text([
                (iso(row.at), row.kind, row.pupil_id, _cell(row.name), _cell(row.class_name),
                 _cell(row.card_uid), _cell(row.locker_id), row.bay, _cell(row.actor),
                 _cell(row.reason), words, where(row))
                for row, words in zip(rows, whats_of, strict=True)
            ])
            if len(rows) < CSV_CHUNK:
                return
            last = rows[-1]
            chunk = _query(filters, columns, before=(last.at, last.id)).limit(CSV_CHUNK)

    stamp = local(now()).date().isoformat()  # the school's day on the app's clock
    return Response(
        stream_with_context(generate()), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="phonelocker-events-{stamp}.csv"'},
    )
