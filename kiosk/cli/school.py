"""``phonelocker status | events``: today's phones and the event log, read-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring

import click

from kiosk.cli.base import Context, emit_json, emit_json_batches, pass_ctx
from kiosk.config import Config
from kiosk.errors import ActionError
from kiosk.store.events import Kind

EVENT_KINDS = [kind.value for kind in Kind]

STATE_LABELS = {
    "not_handed_in": "not handed in",
    "in_locker": "in locker",
    "collected": "collected",
    "school_closed": "no school today",
}


def register(cli: click.Group, command) -> None:
    """Add ``status`` and ``events`` to ``cli`` (``command``: :func:`kiosk.cli.base.command`)."""

    @command(cli, "status")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctx
    def status(ctx: Context, as_json: bool) -> None:
        """Today's state of every pupil's phone."""
        from kiosk.registers.exceptions import kind_words
        from kiosk.school.queries import pupil_states

        with ctx.database().session() as session:
            document = pupil_states(session, ctx.config, now=ctx.now)
        if as_json:
            emit_json(document)
            return
        click.echo(f"Phones on {document['date']}")
        day = document["calendar"]
        if day is not None:
            click.echo("  school closed: " + day["reason"] if day["closed"] else
                       f"  collection from {day['collect_from']} today: {day['reason']}")
        for row in document["pupils"]:
            label = STATE_LABELS[row["state"]]
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
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctx
    def events(ctx: Context, since: str | None, kind: tuple[str, ...], as_json: bool) -> None:
        """The event log (append-only), oldest first."""
        from kiosk.school.queries import event_dict, event_rows, local_iso

        since_at = _parse_since(since, ctx.config) if since else None
        iso = local_iso(ctx.config)
        with ctx.database().session() as session:
            # Streamed: column rows fetched in batches, each printed as it comes.
            found = event_rows(session, since=since_at, kinds=list(kind) or None)
            if as_json:
                # a batch of rows at a time from the result: less per-row overhead
                emit_json_batches(found.partitions(), event_json(iso))
                return
            _print_events(event_dict(e, ctx.config, iso) for e in found)


#: JSON of a flag column (NOT NULL, but a NULL prints as json.dumps would print it)
_FLAGS = {None: "null", True: "true", False: "false"}


def event_json(iso: Callable[[datetime | None], str | None]) -> Callable[[tuple], str]:
    """The writer of one :func:`kiosk.school.queries.event_rows` row as ``emit_json_list``
    prints its :func:`~kiosk.school.queries.event_dict`, straight from the row's columns
    (each column's type is known: no dict, no type dispatch per value; a year of events
    is hundreds of thousands of rows). ``iso`` is a :func:`~kiosk.school.queries.local_iso`.
    """

    quote = encode_basestring

    def encode(row: tuple) -> str:
        event_id, at, kind, pupil_id, card_uid, locker, bay, actor, reason, suspect = row
        # written out inline: a function call per value costs as much as the rest
        return (
            f'{{\n    "id": {event_id:d},\n    "at": {quote(iso(at))},\n'
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


def _print_events(rows) -> None:
    for row in rows:
        who = f" pupil {row['pupil_id']}" if row["pupil_id"] else ""
        where = f" {row['locker']}/{row['bay']}" if row["locker"] else ""
        click.echo(
            f"{row['at']}  {row['kind']:<14}{who}{where}"
            f"{' card ' + row['card_uid'] if row['card_uid'] else ''}"
            f"{' by ' + row['actor'] if row['actor'] else ''}"
            f"{' — ' + row['reason'] if row['reason'] else ''}"
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
