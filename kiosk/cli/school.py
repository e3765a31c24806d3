"""``phonelocker status | events``: today's phones and the event log, read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kiosk.cli.base import Context, emit_json, emit_json_list, pass_ctx
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
            rows = (event_dict(e, ctx.config, iso) for e in event_rows(
                session, since=since_at, kinds=list(kind) or None))
            if as_json:
                emit_json_list(rows)
                return
            _print_events(rows)


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
