"""The staff words (kiosk/reports/words.py) as Jinja filters, so no template shows a code.

Registered on the app by :func:`register`. The filters that need the database
(a refusal's collection time, a locker's name) read it once per request,
through the request's session, and keep what they read in ``g``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, g
from sqlalchemy import select

from kiosk.reports import words
from kiosk.store.models import Locker
from web.access import db_session
from web.helpers import config, local, now


def collection_times() -> words.CollectionTimes:
    """The request's :class:`~kiosk.reports.words.CollectionTimes` (one read per date)."""
    if "collection_times" not in g:
        g.collection_times = words.CollectionTimes(db_session(), config())
    return g.collection_times


def locker_names() -> dict[str, str]:
    """Locker id -> name, read once per request (a school has a few lockers)."""
    if "locker_names" not in g:
        g.locker_names = dict(db_session().execute(select(Locker.id, Locker.name)).all())
    return g.locker_names


def what(event: Any) -> str:
    """An event's "what": its kind in words, and for a refusal why ("refused — collection
    opens 15:15", the collection time of that day)."""
    return collection_times().event_words(event.kind, event.reason, event.at)


def place(locker_id: str | None, bay: int | None = None) -> str:
    """"Class 6K locker, bay 1" for a locker id and bay ("" for none)."""
    if locker_id is None:
        return words.place_words(None, bay)
    return words.place_words(locker_names().get(locker_id), bay, locker_id)


def tap_result(result: str | None, at: str | datetime | None = None) -> str:
    """A kiosk's last tap result in words; ``at`` (ISO local, as the lockers list gives,
    or stored) dates a "too early" refusal's collection time."""
    opens_at = None
    if result == "refused: too_early" and at:
        moment = datetime.fromisoformat(at) if isinstance(at, str) else at
        opens_at = collection_times().on(moment)
    return words.tap_result_words(result, opens_at)


def school_date(value: Any) -> str:
    """"Tuesday 1 December" (the year added when it is not this year, on the app's clock);
    a stored datetime is read in the school's zone first."""
    if isinstance(value, datetime):
        value = local(value)
    return words.school_date(value, local(now()).date())


def register(app: Flask) -> None:
    """Add the filters to ``app``'s templates."""
    filters = app.jinja_env.filters
    filters["what"] = what
    filters["kind_words"] = words.kind_words
    filters["reason"] = lambda event: words.reason_words(event.kind, event.reason)
    filters["state_words"] = words.state_words
    filters["tap_result"] = tap_result
    filters["school_date"] = school_date
    filters["sentence"] = words.sentence
    app.jinja_env.globals["place"] = place
    app.jinja_env.globals["clock_suspect_words"] = words.CLOCK_SUSPECT_WORDS
