"""``phonelocker status | events``: today's phones and the event log, read-only."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click

from kiosk.cli.base import Context, emit_json, emit_json_list, pass_ctx
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

        since_at = _parse_since(since, ctx.config) if since else None
        iso = local_iso(ctx.config)
        with ctx.database().session() as session:
            pupils = _pupil_names(session) if names else None
            # Streamed: column rows fetched in batches, each printed as it comes.
            rows = (event_dict(e, ctx.config, iso) for e in event_rows(
                session, since=since_at, kinds=list(kind) or None))
            if pupils is not None:
                rows = (_with_names(row, pupils) for row in rows)
            if as_json:
                emit_json_list(rows)
                return
            _print_events(session, ctx.config, rows)


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
