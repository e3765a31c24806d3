"""The Today page (the home page) and the JSON it refreshes itself from.

The page is rendered once on the server; ``static/app.js`` then asks
``/api/today`` every second "anything new since version V?" (``If-None-Match``
with the page's ETag) and swaps in the sections that came back. The JSON
carries the data (for anything else that wants it) and the sections rendered
by the same Jinja partials, so there is one way to draw a pupil row and
Jinja's escaping covers the live updates too.

What a poll costs follows what changed, not the size of the school:

* **nothing changed**: ``304 Not Modified``, no body. The version (ETag) is
  ``<newest event id>.<lockers>.<context>``: the events table's max id (every
  change to a pupil's day records an event), a hash of the lockers panel's
  data (heartbeats, faults), and a hash of what frames the page (date, the
  collection time, the user's classes, the filters). One primary-key lookup
  and the few locker rows.
* **a tap** (or any event about pupils): the summary and the sections of the
  classes of the pupils concerned (``html["class:<name>"]``), found from the
  events after the poller's version; ``"partial": true``, no ``pupils`` list.
* **the frame changed** (a new day, collection time passed, a pupil added or
  moved, an import, more than ``MAX_CHANGES`` events) or no ``If-None-Match``:
  the whole document, as before.

Whatever the request, the pupils' part of the view is kept between requests
(:mod:`web.today_cache`, per frame and role, at the newest event id): a page or
a whole document at the same version reads no pupil again and draws no section
again, and after a tap only the classes of the pupils concerned are read again
(:func:`_entry`); the lockers are read for every request.

For a big school the office's page shows the summary and the action lists
first, then one line per class (collapsed); ``?class=`` and ``?q=`` (a part of
a name) open the matching classes' rows, and ``/today/class/<name>`` is one
class opened, as an HTML fragment (``app.js`` swaps it in when a class line is
clicked; it reads that class only).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import partial
from itertools import groupby
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request
from markupsafe import Markup

from kiosk.calendar.days import get_day
from kiosk.policy import SchoolDay, collection_time
from kiosk.registers.queries import count_due_for_review
from kiosk.school.queries import (
    changes_since,
    last_event_id,
    locker_states,
    pupil_classes,
    pupil_states,
    surname_key,
)
from kiosk.store.runtime_status import with_faults
from web.access import (
    can_office,
    db_session,
    login_required,
    may_see,
    scope_last_taps,
    visible_classes,
)
from web.helpers import arg_text, config, now, state
from web.today_cache import TodayEntry

bp = Blueprint("today", __name__)

SECTIONS = {
    "date": "partials/today_date.html",
    "calendar": "partials/today_calendar.html",
    "summary": "partials/today_summary.html",
    "classes": "partials/today_classes.html",
    "lockers": "partials/lockers.html",
}
#: the sections drawn from the pupils' view (kept with it); the lockers are drawn per request
ENTRY_SECTIONS = ("date", "calendar", "summary", "classes")
CLASS_SECTION = "partials/today_class.html"
#: classes are shown open (every pupil's row) up to this many pupils in view;
#: above it one line per class, opened by the class or name filter
EXPAND_PUPILS = 300
#: names shown in each action list before "and N more"
LIST_NAMES = 200
#: event kinds that change only their pupil's row, their class's counts and the summary
CLASS_LOCAL_KINDS = frozenset({
    "deposit", "collect", "reopen", "refused", "override", "enrol", "forced_door",
    "card_revoked", "approved", "approval_revoked", "early_release", "office_return",
    "kept_in_office", "exception_added", "exception_ended",
})
#: event kinds that change nothing the Today page shows about pupils
NO_PUPIL_KINDS = frozenset({
    "user_created", "user_updated", "login", "login_failed", "reader_fault", "reader_ok",
    "kiosk_started", "kiosk_stopped", "locker_forgotten", "command_expired",
    "arrangement_added", "arrangement_ended",
})


NO_FILTERS = {"class": "", "q": ""}


def _filters() -> dict:
    """The Today page's filters: ``class`` (exact) and ``q`` (part of a pupil's name)."""
    return {"class": arg_text("class", max_length=64), "q": arg_text("q", max_length=100)}


def class_key(name: str) -> str:
    """The ``html`` key (and ``data-section``) of one class's section."""
    return "class:" + name


def _frame_key(context: dict) -> tuple[str, str]:
    """The cache key of a view: its frame (:func:`_context`) and the viewer's role (the
    sections' words differ for a teacher)."""
    return _digest(context), g.user.role


def _entry(filters: dict, event_id: int, context: dict) -> TodayEntry:
    """The Today view (for the user's classes only) at ``event_id``, the newest event id
    read before it: the kept one when nothing was recorded since; built from the kept one
    when the events since concern some classes only (those are read again, the rest
    reused); else read afresh. See :mod:`web.today_cache`."""
    cache = state().today_cache
    key = _frame_key(context)
    kept = cache.get(key)
    if kept is not None and kept.event_id == event_id:
        return kept
    document = read_again = None
    if kept is not None and kept.event_id < event_id:
        changed = _changed_classes(event_id, kept.event_id)
        if changed is not None:
            document = _with_classes_read(kept.view, changed)
            read_again = changed if document is not None else None
    if document is None and (filters["class"] or filters["q"]):
        # a filtered view is drawn from the whole view's pupils (read once, held once)
        whole = _entry(NO_FILTERS, event_id, {**context, "filters": NO_FILTERS}).view
        document = {key: whole[key] for key in ("date", "collection_time", "calendar", "pupils")}
    if document is None:
        document = pupil_states(db_session(), config(), now=now(), classes=visible_classes())
    entry = TodayEntry(event_id, _pupils_view(document, filters))
    if read_again is not None and kept.view["expand_classes"] == entry.view["expand_classes"]:
        # the other classes' rows are as they were: so are their sections
        entry.sections = {key: html for key, html in kept.sections.items()
                          if key.startswith("class:") and key[6:] not in read_again}
    cache.put(key, entry)
    return entry


def _with_classes_read(view: dict, changed: set[str]) -> dict | None:
    """``view``'s :func:`pupil_states` document with the ``changed`` classes' pupils read
    again (in their place: the order is the database's), or None when that cannot be
    done (a class new to the view, or the day moved on)."""
    scope = visible_classes()
    to_read = sorted(name for name in changed if scope is None or name in scope)
    document = {key: view[key] for key in ("date", "collection_time", "calendar")}
    pupils = view["pupils"]
    if not to_read:
        return document | {"pupils": pupils}  # events about pupils out of view
    fresh = pupil_states(db_session(), config(), now=now(), classes=to_read)
    if fresh["date"] != view["date"]:
        return None
    read = {name: list(rows) for name, rows in groupby(fresh["pupils"], key=_class_of)}
    spliced: list[dict] = []
    seen: set[str] = set()
    for name, rows in groupby(pupils, key=_class_of):
        seen.add(name)
        spliced.extend(read.get(name, ()) if name in changed else rows)
    if not read.keys() <= seen:
        return None
    return document | {"pupils": spliced}


def _class_of(row: dict) -> str:
    return row["class"]


def _pupils_view(document: dict, filters: dict) -> dict:
    """What the Today page shows of the pupils in ``document`` (:func:`pupil_states`)
    with ``filters``: everything but the lockers and the time."""
    cfg = config()
    pupils = document["pupils"]
    local_now = now().astimezone(cfg.policy.zone)
    # the day's time: the calendar's when set (closing early, an early finish), else [policy];
    # none on a closed day (collection is open all day)
    collect_at = document["collection_time"]
    shown = _filtered(pupils, filters)
    filtered = bool(filters["class"] or filters["q"])
    classes = [class_entry(name, list(rows)) for name, rows in groupby(shown, key=_class_of)]
    return {
        "date": document["date"],
        "collection_time": collect_at,
        "calendar": document["calendar"],
        "after_collection": collect_at is None or local_now.strftime("%H:%M") >= collect_at,
        "pupils": pupils,
        # No pupils is not "all handed in": the page says so instead of an all-clear.
        "no_pupils": not pupils,
        "classes": classes,
        "expand_classes": filtered or len(pupils) <= EXPAND_PUPILS,
        "filters": filters,
        "class_names": sorted({p["class"] for p in pupils}),
        "list_names": LIST_NAMES,
        # the action lists: one list across classes, by surname
        "not_collected": sorted((p for p in pupils if p["state"] == "in_locker"), key=surname_key),
        "not_handed_in": sorted((p for p in pupils if _expected(p)), key=surname_key),
        "overnight": sorted((p for p in pupils if p["overnight"]), key=surname_key),
        "counts": {
            "in_locker": sum(p["state"] == "in_locker" for p in pupils),
            "collected": sum(p["state"] == "collected" for p in pupils),
            "not_handed_in": sum(_expected(p) for p in pupils),
            "refused_taps": sum(p["refused_today"] for p in pupils),
            "overnight": sum(p["overnight"] for p in pupils),
        },
        # the office's notice: exceptions whose review date has passed or is near
        "exceptions_due": (
            count_due_for_review(db_session(), local_now.date(), cfg.policy.zone)
            if can_office() else 0
        ),
    }


def _section(entry: TodayEntry, name: str) -> str:
    """A section of the page (:data:`SECTIONS`, not the lockers) drawn from ``entry``; the
    classes from each class's own section (kept from the entry before for the classes
    no event since concerned)."""
    if name == "classes":
        return entry.section(name, lambda: render_template(
            SECTIONS[name], **entry.view, class_html={
                class_["key"]: Markup(_class_html(entry, class_))
                for class_ in entry.view["classes"]}))
    return entry.section(name, lambda: render_template(SECTIONS[name], **entry.view))


def _class_html(entry: TodayEntry, class_: dict) -> str:
    """One class's section drawn from ``entry``."""
    return entry.section(class_["key"], lambda: render_template(
        CLASS_SECTION, **{"class": class_}, expand_classes=entry.view["expand_classes"],
        filters=entry.view["filters"]))


def class_entry(name: str, rows: list[dict]) -> dict:
    """What ``partials/today_class.html`` draws of one class: its pupils by surname, the
    key of its section, its counts."""
    rows = sorted(rows, key=surname_key)
    return {"name": name, "pupils": rows, "key": class_key(name), "counts": class_counts(rows)}


def class_counts(rows: list[dict]) -> dict[str, int]:
    """A class line's counts, in one pass over its pupils: in the locker, collected,
    not handed in (without an agreed exception)."""
    counts = {"in_locker": 0, "collected": 0, "not_handed_in": 0}
    for row in rows:
        state = row["state"]
        if state == "not_handed_in" and row["exception"]:
            continue
        if state in counts:
            counts[state] += 1
    return counts


def _filtered(pupils: list[dict], filters: dict) -> list[dict]:
    needle = filters["q"].casefold()
    return [
        p for p in pupils
        if (not filters["class"] or p["class"] == filters["class"])
        and (not needle or needle in p["name"].casefold())
    ]


def _expected(pupil: dict) -> bool:
    """Should have handed a phone in and has not: allowed one, no agreed exception."""
    return pupil["allowed"] and pupil["state"] == "not_handed_in" and not pupil["exception"]


def _lockers(db, cfg, moment) -> list[dict]:
    """The heartbeats, corrected by a kiosk's status file when it cannot record taps,
    with each last tap shown only as far as the viewer may see it."""
    return scope_last_taps(with_faults(locker_states(db, cfg, now=moment), cfg, moment))


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _context(filters: dict) -> dict:
    """What frames the page: when it changes, every section is drawn again."""
    cfg, moment = config(), now()
    local_now = moment.astimezone(cfg.policy.zone)
    today = local_now.date()
    # the calendar's time when set (an early finish, closing early), else [policy]
    day = get_day(db_session(), today)
    closed = day is not None and day.closed
    school_day = SchoolDay(today, day.closed, day.collect_from, day.reason) if day else None
    collect_at = collection_time(cfg.policy, today, school_day)
    return {
        "date": today.isoformat(),
        "collection_time": None if closed else collect_at.strftime("%H:%M"),
        "after_collection": closed or local_now.time() >= collect_at,
        "classes": visible_classes(),
        "filters": filters,
    }


#: a silent kiosk's "heartbeat N s ago" is redrawn every this many seconds
AGE_STEP_SECONDS = 5


def _lockers_digest(lockers: list[dict]) -> str:
    # A heartbeat every 2 s changes heartbeat_at and the age, and nothing a viewer needs:
    # they are left out, the age counted in steps (0 while the kiosk beats; a stopped
    # kiosk's age is redrawn every step, and going offline changes "online").
    def stable(row: dict) -> dict:
        age = row.get("heartbeat_age_seconds")
        kept = {k: v for k, v in row.items()
                if k not in ("heartbeat_age_seconds", "heartbeat_at", "last_sync")}
        return kept | {"age_step": None if age is None else int(max(age, 0) // AGE_STEP_SECONDS)}
    return _digest([stable(row) for row in lockers])


def _version(event_id: int, lockers: list[dict], context: dict) -> str:
    return f"{event_id}.{_lockers_digest(lockers)}.{_digest(context)}"


def _parse_version(value: str) -> tuple[int, str, str] | None:
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 18:
        return None
    return int(parts[0]), parts[1], parts[2]


def _changed_classes(event_id: int, since_id: int) -> set[str] | None:
    """The classes whose sections the events after ``since_id`` changed; None: redraw all."""
    if since_id > event_id:
        return None  # a version from another database (restored backup): start again
    changes = changes_since(db_session(), since_id)
    if changes is None:
        return None
    pupils: set[int] = set()
    for pupil_id, kind in changes:
        if kind in NO_PUPIL_KINDS:
            continue
        if kind not in CLASS_LOCAL_KINDS:
            return None  # a pupil added or moved, an import, a kind this page does not know
        if pupil_id is not None:
            pupils.add(pupil_id)
    return pupil_classes(db_session(), pupils)


@bp.get("/")
@login_required
def index():
    """The summary and the lists that need action; per class, each pupil's phone today;
    the lockers."""
    filters = _filters()
    cfg, moment, db = config(), now(), db_session()
    # The version is read before the data: a tap between the two is sent again next time.
    event_id = last_event_id(db)
    context = _context(filters)
    lockers = _lockers(db, cfg, moment)
    entry = _entry(filters, event_id, context)
    sections = {name: Markup(_section(entry, name)) for name in ENTRY_SECTIONS}
    sections["lockers"] = Markup(render_template(SECTIONS["lockers"], lockers=lockers))
    return render_template(
        "today.html", poll_ms=current_app.config["POLL_MILLISECONDS"],
        version=_version(event_id, lockers, context),
        poll_args={k: v for k, v in filters.items() if v}, sections=sections, lockers=lockers,
        **entry.view
    )


@bp.get("/api/today")
@login_required
def api_today():
    """The Today page's data and its re-rendered sections, polled by the page.

    With ``If-None-Match``: 304 when nothing changed, else only what changed
    (see the module docstring). The ``ETag`` header and ``version`` field carry
    the version to send next time.
    """
    filters = _filters()
    cfg, moment, db = config(), now(), db_session()
    # The version is read before the data: a tap between the two is sent again next time.
    event_id = last_event_id(db)
    lockers = _lockers(db, cfg, moment)
    context = _context(filters)
    version = _version(event_id, lockers, context)
    previous = _if_none_match()
    if previous == version:
        response = Response(status=304)
        response.set_etag(version)
        return response
    known = _parse_version(previous) if previous else None
    changed: set[str] | None = None
    if known is not None and known[2] == _digest(context):
        changed = _changed_classes(event_id, known[0])
    if changed is None:
        response = _document(_entry(filters, event_id, context), lockers, version)
    else:
        response = jsonify(_partial(filters, lockers, known, changed, event_id, version,
                                    context))
    response.set_etag(version)
    return response


def _document(entry: TodayEntry, lockers: list[dict], version: str) -> Response:
    """The whole document: ``entry``'s values and sections (encoded once per entry: at
    2,000 pupils a megabyte of JSON), the lockers, the time and the version. Keys in the
    order they were built, not sorted (``jsonify`` sorts every pupil's keys)."""
    encode = _json_encoder()
    moment = now().astimezone(config().policy.zone).isoformat(timespec="seconds")
    parts = [f'"{key}":{entry.json(key, encode)}' for key in entry.view if key not in _PAGE_ONLY]
    html = [f'"{name}":{entry.json_text("html:" + name, _section(entry, name), encode)}'
            for name in ENTRY_SECTIONS]
    html.append(f'"lockers":{encode(render_template(SECTIONS["lockers"], lockers=lockers))}')
    parts += [f'"now":{encode(moment)}', f'"lockers":{encode(lockers)}',
              '"html":{' + ",".join(html) + "}", f'"version":{encode(version)}',
              '"partial":false']
    return current_app.response_class("{" + ",".join(parts) + "}\n",
                                      mimetype="application/json")


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` as ``jsonify`` writes values (dates, decimals), compact, unsorted."""
    return partial(json.dumps, separators=(",", ":"), default=current_app.json.default)


#: view keys for the template only, not part of the JSON document
_PAGE_ONLY = ("classes", "expand_classes", "filters", "class_names", "list_names")


def _partial(filters: dict, lockers: list[dict], known: tuple[int, str, str],
             changed: set[str], event_id: int, version: str, context: dict) -> dict:
    """The sections that changed since the poller's version ``known``."""
    cfg, moment = config(), now()
    data: dict = {
        "version": version, "partial": True,
        "now": moment.astimezone(cfg.policy.zone).isoformat(timespec="seconds"), "html": {},
    }
    if _lockers_digest(lockers) != known[1]:
        data["lockers"] = lockers
        data["html"]["lockers"] = render_template(SECTIONS["lockers"], lockers=lockers)
    if known[0] == event_id or not changed:
        return data  # only the lockers, or events about no pupil (logins, reader faults)
    entry = _entry(filters, event_id, context)
    view = entry.view
    # The lists' rows stay out (they are in the summary's HTML): a tap costs its class.
    for key in ("date", "collection_time", "after_collection", "no_pupils", "counts"):
        data[key] = view[key]
    data["html"]["summary"] = _section(entry, "summary")
    shown = {c["name"]: c for c in view["classes"]}
    for name in sorted(changed):
        if name in shown:
            data["html"][class_key(name)] = _class_html(entry, shown[name])
    data["changed_classes"] = sorted(changed & set(shown))
    return data


@bp.get("/today/class/<path:name>")
@login_required
def class_section(name: str):
    """One class's section, opened (every pupil's row), as an HTML fragment: what
    ``static/app.js`` swaps in when a collapsed class on a big school's Today is opened.
    It reads that class's pupils only. 404 for a class the user may not see or that
    has no pupils."""
    if len(name) > 64 or not may_see(name):
        abort(404)
    rows = pupil_states(db_session(), config(), now=now(), classes=[name])["pupils"]
    if not rows:
        abort(404)
    return render_template(CLASS_SECTION, **{"class": class_entry(name, rows)},
                           expand_classes=True, filters={"class": name, "q": ""})


def _if_none_match() -> str | None:
    tags = request.if_none_match
    if not tags:
        return None
    values = list(tags.as_set())
    return values[0] if len(values) == 1 else None


@bp.get("/api/lockers")
@login_required
def api_lockers():
    """Each locker's heartbeat: online, reader, bays, doors, LEDs, last tap (whose, if allowed)."""
    lockers = _lockers(db_session(), config(), now())
    html = render_template(SECTIONS["lockers"], lockers=lockers)
    return jsonify({"lockers": lockers, "html": {"lockers": html}})
