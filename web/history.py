"""History: events filtered by date range, class, pupil and kind; paged; CSV export, streamed.

A teacher sees only events about pupils in their classes; office and admin
see everything, including events about no pupil (overrides, logins).

The CSV export reads plain column rows in chunks of :data:`CSV_CHUNK` events,
each chunk in its own short read transaction (keyset paging on ``(at, id)``,
newest first), and sends each chunk as it is read: memory stays constant for
a year of a big school, and no read transaction stays open for the whole
download (SQLite WAL readers never block the kiosk's writes, but a long one
keeps the WAL from being checkpointed). Each chunk is fetched 500 rows at a time
(:data:`CSV_PART`) and written by :class:`_CsvRows`, a per-column writer that makes
exactly the csv module's bytes with each repeated cell worked out once.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from sqlalchemy import Integer, Select, String, bindparam, select, tuple_, type_coerce

from kiosk.policy import Refusal, local_day_bounds
from kiosk.reports.words import (
    PUPIL_KINDS,
    CollectionTimes,
    date_range_words,
    event_words,
    place_words,
)
from kiosk.school.queries import local_iso, surname_key
from kiosk.school.stored_times import StoredTimes
from kiosk.store.events import Kind
from kiosk.store.models import Event, Locker, Pupil
from kiosk.store.plain_rows import plain_parts
from web.access import actor, db_session, in_visible_classes, login_required, visible_classes
from web.helpers import arg_date, arg_text, config, form_id, form_int, local, now, state
from web.memory import release
from web.pupils import class_names

log = logging.getLogger(__name__)

bp = Blueprint("history", __name__)

PAGE_ROWS = 500
#: events read per chunk (and per read transaction) by the CSV export; a chunk's text is
#: what the export holds at once (with waitress's buffer, web/server.py)
CSV_CHUNK = 2000
#: rows fetched at a time within a chunk (the rows take several times their text's memory)
CSV_PART = 500
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


def _query(filters: dict, columns=(Event,), before: tuple | None = None,
           names: bool = True) -> Select:
    """Events (newest first) with the pupil's name and class, within the user's scope.

    ``columns`` are what to select of the event (the ORM object by default);
    ``before`` an ``(at, id)`` to start after (the CSV's next chunk); ``names=False``
    selects no name and class, and joins the pupils only when a filter needs them (the
    CSV has them by pupil id: the join was a quarter of its time)."""
    zone = config().policy.zone
    since = local_day_bounds(filters["from"], zone)[0].astimezone(UTC).replace(tzinfo=None)
    until = local_day_bounds(filters["to"], zone)[1].astimezone(UTC).replace(tzinfo=None)
    pupils = Pupil.__table__.c
    query = select(*columns, *((pupils.name, pupils.class_name) if names else ()))
    if names or filters["class"] or visible_classes() is not None:
        query = query.outerjoin(Pupil, Pupil.id == Event.pupil_id)
    query = query.order_by(Event.at.desc(), Event.id.desc())
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


#: a character that makes the csv module (excel dialect, QUOTE_MINIMAL) quote a field:
#: the delimiter, the quote character, or one of the line terminator's
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _field(text: str) -> str:
    """``text`` as ``csv.writer`` writes one field of a row of several (excel dialect)."""
    if _NEEDS_QUOTES.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


def _free(value) -> str:
    """A free-text cell (names, card UIDs, ids, actors, reasons): defused, then quoted."""
    return _field(_cell(value))


#: distinct values each of the export's per-value caches keeps (a year of refusals of
#: unknown cards has many card UIDs); a full cache is emptied, not grown
_CACHE_KEPT = 8192


class _CsvRows:
    """The export's writer: one event row ``(id, at, kind, pupil_id, card_uid, locker_id,
    bay, actor, reason)`` to its CSV line, byte for byte what ``csv.writer`` writes for
    the cells of :data:`CSV_COLUMNS` (tests/web/test_history_csv.py compares the two).

    Written per column because the column types are known, and the cells that repeat
    are worked out once per distinct value, in two caches that make a line of three
    pieces besides the time: the pupil's cells with the card's (a pupil taps the same
    card all year), and the rest of the line by the event's kind, reason, locker, bay and
    actor (a pupil's bay is the same all year too). The local time is worked out once
    per minute (:func:`~kiosk.school.queries.local_iso`; from SQLite's stored text,
    :class:`~kiosk.school.stored_times.StoredTimes`). A year of a big school is
    hundreds of thousands of rows, and a function call or a dictionary look-up per
    cell costs as much as the rest.
    """

    def __init__(self, cfg, text_times: bool = False) -> None:
        """``text_times``: the rows' ``at`` is SQLite's stored text
        (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), not a datetime: the local time's text is
        then looked up by the minute's text, without a datetime per row."""
        self._iso = local_iso(cfg)
        self._text_times = text_times
        self._stored = StoredTimes(cfg)
        self._pupils: dict[int | None, str] = {None: ",,"}  # id -> "id,name,class"
        self._lockers: dict[str, str] | None = None  # locker id -> name
        self.times: CollectionTimes | None = None  # set per chunk (its read transaction)
        self._opening_times: dict = {}  # collection time per date, shared by the chunks
        # per-value caches of cells, bounded by _CACHE_KEPT
        #: (pupil id, card) -> "pupil_id,pupil,class,card"
        self._people: dict[tuple, str] = {}
        #: (kind, reason, locker, bay, actor) -> (kind cell, the cells after the card
        #: with the line's end, or None where the "what" depends on the day)
        self._rests: dict[tuple, tuple[str, str | None]] = {}

    def start_chunk(self, session) -> None:
        """Read what the chunk's cells need in the chunk's read transaction."""
        if self._lockers is None:
            self._lockers = dict(session.execute(select(Locker.id, Locker.name)).all())
            self._load_pupils(session)
        self._session = session
        self.times = CollectionTimes(session, config(), self._opening_times)

    def _load_pupils(self, session) -> None:
        # every pupil, those who have left too (their events stay): one read, not a join
        # per event
        self._pupils = {None: ",,"} | {
            pupil_id: f"{pupil_id},{_free(name)},{_free(class_name)}"
            for pupil_id, name, class_name in session.execute(
                select(Pupil.id, Pupil.name, Pupil.class_name))
        }

    def _person(self, pupil_id: int | None, card_uid: str | None) -> str:
        """The pupil id, name, class and card cells."""
        pupil = self._pupils.get(pupil_id)
        if pupil is None:
            self._load_pupils(self._session)  # one added since the export started
            # or removed: no name
            pupil = self._pupils.setdefault(pupil_id, f"{pupil_id},,")
        return f"{pupil},{_free(card_uid)}"

    def _rest(self, kind: str, reason: str | None, locker_id: str | None, bay: int | None,
              actor_id: str | None) -> tuple[str, str | None]:
        """(kind cell, "locker,bay,actor,reason,what,where" and the line's end); the
        second is None where the "what" depends on the day (a too-early refusal)."""
        if kind == Kind.REFUSED and reason == Refusal.TOO_EARLY:
            return _field(kind), None
        what = _field(event_words(kind, reason if kind == Kind.REFUSED else None))
        return _field(kind), self._rest_text(reason, locker_id, bay, actor_id, what)

    def _rest_text(self, reason: str | None, locker_id: str | None, bay: int | None,
                   actor_id: str | None, what: str) -> str:
        bay_text = "" if bay is None else str(bay)
        where = _free(place_words(self._lockers.get(locker_id), bay, locker_id))
        return (f"{_free(locker_id)},{bay_text},{_free(actor_id)},{_free(reason)},"
                f"{what},{where}\r\n")

    def lines(self, rows) -> str:
        """The CSV text of ``rows`` (of one chunk)."""
        iso, people, rests, miss = self._iso, self._people, self._rests, self._miss
        stored, text_times = self._stored, self._text_times
        minutes = stored.minutes
        out = []
        for _id, at, kind, pupil_id, card_uid, locker_id, bay, actor_id, reason in rows:
            if text_times:
                minute = minutes.get(at[:16]) or stored.minute(at)  # StoredTimes, inline
                when = f"{minute[0]}{at[17:19]}{minute[1]}" if minute else stored.slow(at)
            else:
                when = iso(at)
            # the look-ups are inline, not calls: they run for every row
            kind_text, rest = (rests.get((kind, reason, locker_id, bay, actor_id))
                               or miss(rests, self._rest, kind, reason, locker_id, bay,
                                       actor_id))
            if rest is None:
                moment = datetime.fromisoformat(at) if text_times else at
                what = _field(self.times.event_words(kind, reason, moment))
                rest = self._rest_text(reason, locker_id, bay, actor_id, what)
            who = (people.get((pupil_id, card_uid))
                   or miss(people, self._person, pupil_id, card_uid))
            out.append(f"{when},{kind_text},{who},{rest}")
        return "".join(out)

    @staticmethod
    def _miss(cache: dict, function: Callable[..., Any], *key) -> Any:
        """``function(*key)``, remembered in ``cache`` (emptied when it is full)."""
        if len(cache) >= _CACHE_KEPT:
            cache.clear()
        found = cache[key if len(key) > 1 else key[0]] = function(*key)
        return found


@bp.get("/history.csv")
@login_required
def export():
    """Every matching event as CSV (UTF-8 with BOM, for Excel), streamed chunk by chunk."""
    events = Event.__table__.c  # table columns: plain rows, no ORM loading
    # On SQLite ``at`` is read as its stored text (no datetime made per row; the CSV
    # wants text): a quarter of the rows' reading time
    text_times = state().db.engine.dialect.name == "sqlite"
    at = type_coerce(events.at, String) if text_times else events.at
    columns = (events.id, at, events.kind, events.pupil_id, events.card_uid,
               events.locker_id, events.bay, events.actor, events.reason)
    filters = _filters()
    query = _query(filters, columns, names=False).limit(CSV_CHUNK)
    # the next chunks' statement, built once: each chunk binds where the last one ended
    after = (bindparam("last_at", type_=events.at.type), bindparam("last_id", type_=Integer()))
    next_query = _query(filters, columns, before=after, names=False).limit(CSV_CHUNK)
    db, cfg = state().db, config()
    log.info("events exported by %s", actor())
    header = io.StringIO()
    csv.writer(header).writerow(CSV_COLUMNS)

    def generate() -> Iterator[str]:
        try:
            yield "\ufeff" + header.getvalue()
            yield from chunks()
        finally:
            # a year's export freed hundreds of megabytes of small blocks; hand the free
            # pages back now rather than keep them as the process's RSS (web/memory.py)
            release()

    def chunks() -> Iterator[str]:
        # the writer's caches live as long as this generator: gone before release()
        writer, chunk, where = _CsvRows(cfg, text_times), query, None
        while True:
            texts, count, last = [], 0, None
            with db.session() as session:  # one short read transaction per chunk
                writer.start_chunk(session)
                # the DBAPI's tuples (no Row objects), fetched a part at a time: a
                # part's rows, not the chunk's, are alive at once
                for rows in plain_parts(session.connection(), chunk, CSV_PART, where):
                    texts.append(writer.lines(rows))
                    count, last = count + len(rows), rows[-1]
            yield "".join(texts)
            if count < CSV_CHUNK:
                return
            last_at = datetime.fromisoformat(last[1]) if text_times else last[1]
            chunk, where = next_query, {"last_at": last_at, "last_id": last[0]}

    stamp = local(now()).date().isoformat()  # the school's day on the app's clock
    return Response(
        stream_with_context(generate()), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="phonelocker-events-{stamp}.csv"'},
    )
