"""``phonelocker status | events``: today's phones and the event log, read-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from json.encoder import encode_basestring
from typing import Any

import click

from kiosk.cli.base import Context, emit_json, emit_json_batches, emit_json_list, pass_ctx
from kiosk.config import Config
from kiosk.errors import ActionError
from kiosk.store.events import Kind

EVENT_KINDS = [kind.value for kind in Kind]


def register(cli: click.Group, command) -> None:
    """Add ``status`` and ``events`` to ``cli`` (``command``: :func:`kiosk.cli.base.command`)."""

    @command(cli, "status")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctx
    def status(ctx: Context, as_json: bool) -> None:
        """Today's state of every pupil's phone."""
        from kiosk.registers.exceptions import kind_words
        from kiosk.reports.words import school_date, state_words
        from kiosk.school.queries import pupil_states

        with ctx.database().session() as session:
            document = pupil_states(session, ctx.config, now=ctx.now)
        if as_json:
            emit_json(document)
            return
        day_of = date.fromisoformat(document["date"])
        click.echo(f"Phones on {school_date(day_of, day_of)}")
        day = document["calendar"]
        if day is not None:
            click.echo("  school closed: " + day["reason"] if day["closed"] else
                       f"  collection from {day['collect_from']} today: {day['reason']}")
        for row in document["pupils"]:
            label = state_words(row["state"])
            if row["state"] == "collected" and row.get("collected_kind") == "office_return":
                label = "handed back by the office"
            elif row["state"] == "collected" and row.get("collected_kind") == "kept_in_office":
                label = "kept in the office"
            if row["state"] == "not_handed_in" and row["exception"]:
                label = f"keeps phone: {kind_words(row['exception']['kind'])}"
            when = row["collected_at"] or row["handed_in_at"]
            extra = f" at {when[11:16]}" if when else ""
            flag = "  (kept overnight)" if row["overnight"] else ""
            click.echo(f"  {row['class']:<8} {row['name']:<30} {label}{extra}{flag}")


    @command(cli, "events")
    @click.option("--since", help="Only events at or after this ISO 8601 time or date.")
    @click.option("--kind", multiple=True, type=click.Choice(EVENT_KINDS),
                  help="Only these kinds (repeatable).")
    @click.option("--names", is_flag=True,
                  help="Show each pupil's name and class (JSON: pupil_name, class_name).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctx
    def events(ctx: Context, since: str | None, kind: tuple[str, ...], names: bool,
               as_json: bool) -> None:
        """The event log (append-only), oldest first, in words (--json: the codes)."""
        from kiosk.school.queries import event_dict, event_rows, local_iso
        from kiosk.school.stored_times import StoredTimes

        since_at = _parse_since(since, ctx.config) if since else None
        iso = local_iso(ctx.config)
        with ctx.database().session() as session:
            if as_json and not names:
                parts, text_times = _event_parts(session, since_at, list(kind) or None)
                # a batch of rows at a time, straight from the DBAPI cursor: no Row, no
                # dict, no datetime per row
                emit_json_batches(parts, event_json(StoredTimes(ctx.config) if text_times
                                                    else iso))
                return
            pupils = _pupil_names(session) if names else None
            # Streamed: column rows fetched in batches, each printed as it comes.
            found = event_rows(session, since=since_at, kinds=list(kind) or None)
            rows = (event_dict(e, ctx.config, iso) for e in found)
            if pupils is not None:
                rows = (_with_names(row, pupils) for row in rows)
            if as_json:
                emit_json_list(rows)  # with names: the general encoder
                return
            _print_events(session, ctx.config, rows)


#: JSON of a flag column (NOT NULL, but a NULL prints as json.dumps would print it); the
#: keys True and False are also SQLite's stored 1 and 0
_FLAGS = {None: "null", True: "true", False: "false"}


def event_json(iso: Callable[[Any], str | None]) -> Callable[[tuple], str]:
    """The writer of one :func:`kiosk.school.queries.event_rows` row as ``emit_json_list``
    prints its :func:`~kiosk.school.queries.event_dict`, straight from the row's columns
    (each column's type is known: no dict, no type dispatch per value; a year of events
    is hundreds of thousands of rows). ``iso`` is a :func:`~kiosk.school.queries.local_iso`
    (``at`` a datetime) or a :class:`~kiosk.school.stored_times.StoredTimes` (``at``
    SQLite's stored text, :func:`_event_parts`).
    """

    quote = encode_basestring

    def encode(row: tuple) -> str:
        event_id, uid, at, kind, pupil_id, card_uid, locker, bay, actor, reason, suspect = row
        # written out inline: a function call per value costs as much as the rest
        return (
            f'{{\n    "id": {event_id:d},\n'
            f'    "uid": {"null" if uid is None else quote(uid)},\n'
            f'    "at": {quote(iso(at))},\n'
            f'    "kind": {quote(kind)},\n'
            f'    "pupil_id": {"null" if pupil_id is None else f"{pupil_id:d}"},\n'
            f'    "card_uid": {"null" if card_uid is None else quote(card_uid)},\n'
            f'    "locker": {"null" if locker is None else quote(locker)},\n'
            f'    "bay": {"null" if bay is None else f"{bay:d}"},\n'
            f'    "actor": {"null" if actor is None else quote(actor)},\n'
            f'    "reason": {"null" if reason is None else quote(reason)},\n'
            f'    "clock_suspect": {_FLAGS[suspect]}\n  }}'
        )

    return encode


def _event_parts(session, since: datetime | None, kinds: list[str] | None):
    """(the :func:`kiosk.school.queries.event_rows` of ``since`` and ``kinds`` as lists of
    plain DBAPI tuples, a :data:`~kiosk.school.queries.STREAM_ROWS` at a time; whether
    their ``at`` is SQLite's stored text). On SQLite ``at`` is selected as its text and
    ``clock_suspect`` as its 0 or 1, so that no value is converted per row
    (:mod:`kiosk.store.plain_rows`)."""
    from sqlalchemy import Integer, String, type_coerce

    from kiosk.school import queries
    from kiosk.store.models import Event
    from kiosk.store.plain_rows import plain_parts

    connection = session.connection()
    text_times = connection.dialect.name == "sqlite"
    columns = [Event.__table__.c[name] for name in queries.EVENT_COLUMNS]
    if text_times:
        columns = [type_coerce(column, String) if column.name == "at"
                   else type_coerce(column, Integer) if column.name == "clock_suspect"
                   else column for column in columns]
    # the same statement as event_rows' (its filters and order), other column types
    statement = queries.events_select(columns, since=since, kinds=kinds)
    return plain_parts(connection, statement, queries.STREAM_ROWS), text_times


def _pupil_names(session) -> dict[int, tuple[str, str]]:
    """Every pupil's (name, class) by id, those who have left too (their events stay)."""
    from sqlalchemy import select

    from kiosk.store.models import Pupil

    return {row.id: (row.name, row.class_name)
            for row in session.execute(select(Pupil.id, Pupil.name, Pupil.class_name))}


def _with_names(row: dict, pupils: dict[int, tuple[str, str]]) -> dict:
    """``row`` with ``pupil_name`` and ``class_name`` (null when no pupil, or one removed)."""
    name, class_name = pupils.get(row["pupil_id"], (None, None))
    return {**row, "pupil_name": name, "class_name": class_name}


def _print_events(session, config: Config, rows) -> None:
    """One line per event in staff words: when, what, who, where, card, by whom, why."""
    from sqlalchemy import select

    from kiosk.reports.words import CollectionTimes, place_words, reason_words
    from kiosk.store.models import Locker

    lockers = dict(session.execute(select(Locker.id, Locker.name)).all())
    times = CollectionTimes(session, config)
    for row in rows:
        what = times.event_words(row["kind"], row["reason"], datetime.fromisoformat(row["at"]))
        if row.get("pupil_name"):
            who = f"  {row['pupil_name']} ({row['class_name']})"
        else:
            who = f"  pupil {row['pupil_id']}" if row["pupil_id"] else ""
        where = (f"  {place_words(lockers.get(row['locker']), row['bay'], row['locker'])}"
                 if row["locker"] else "")
        why = reason_words(row["kind"], row["reason"])
        click.echo(
            f"{row['at']}  {what}{who}{where}"
            f"{'  card ' + row['card_uid'] if row['card_uid'] else ''}"
            f"{'  by ' + row['actor'] if row['actor'] else ''}"
            f"{' — ' + why if why else ''}"
        )


def _parse_since(text: str, config: Config) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ActionError(f"--since {text!r} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.policy.zone)
    try:
        moment.astimezone(UTC)  # as the query will; years 1 and 9999 can fall off the end
    except OverflowError:
        raise ActionError(f"--since {text!r} is out of range") from None
    return moment
