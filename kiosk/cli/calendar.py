"""``phonelocker calendar set | list | clear | import | close-early``: the school's calendar.

:func:`register` adds the group to ``phonelocker`` with ``kiosk/cli/base.py``'s
``command`` decorator (``--config`` and friendly errors), as ``kiosk/cli/care.py``
does. The work is done in :mod:`kiosk.calendar.days`.
"""

from __future__ import annotations

from pathlib import Path

import click


def register(cli: click.Group, command) -> None:
    """Add the ``calendar`` group to ``cli`` using its ``command`` decorator."""
    from kiosk.cli.base import TEXT, actor, emit_json

    @cli.group("calendar")
    def calendar() -> None:
        """Term dates, closed days and early finishes (the collection time of a date)."""

    def day_argument(function):
        def convert(_ctx, _param, value):
            from kiosk.inputs import InputError, parse_day

            try:
                return parse_day(value, "DATE")
            except InputError as error:
                raise click.BadParameter(str(error)) from None

        return click.argument("day", metavar="DATE", callback=convert)(function)

    @command(calendar, "set")
    @day_argument
    @click.option("--closed", is_flag=True, help="No school that day (INSET, holiday, snow).")
    @click.option("--collect-from", metavar="HH:MM", type=TEXT,
                  help="Phones may be collected from this time (an early finish).")
    @click.option("--reason", required=True, type=TEXT, help="Why (shown to staff).")
    @click.option("--by", type=TEXT, help="Who is doing this (default: your login).")
    @click.pass_obj
    def set_(ctx, day, closed: bool, collect_from: str | None, reason: str,
             by: str | None) -> None:
        """Set DATE (YYYY-MM-DD) as closed, or with its own collection time."""
        from kiosk.calendar.days import describe, entry, parse_hhmm, set_day

        if closed == (collect_from is not None):
            raise click.UsageError("give exactly one of --closed and --collect-from HH:MM")
        time_ = parse_hhmm(collect_from, "--collect-from") if collect_from else None
        item = entry(day, closed=closed, collect_from=time_, reason=reason)
        with ctx.database().session() as session:
            set_day(session, item, by=actor(by), now=ctx.now)
            session.commit()
        click.echo(f"set {describe(item.on_date, item.closed, item.collect_from, item.reason)}")

    @command(calendar, "list")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_obj
    def list_(ctx, as_json: bool) -> None:
        """Every date set, oldest first."""
        from kiosk.calendar.days import day_dict, describe, list_days

        with ctx.database().session() as session:
            days = list_days(session)
            rows = [day_dict(day) for day in days]
            lines = [describe(d.on_date, d.closed, d.collect_from, d.reason) for d in days]
        if as_json:
            emit_json(rows)
            return
        if not rows:
            click.echo("no dates set: every day follows [policy]")
        for row, line in zip(rows, lines, strict=True):
            click.echo(f"{row['date']}  {line}")

    @command(calendar, "clear")
    @day_argument
    @click.option("--by", type=TEXT, help="Who is doing this (default: your login).")
    @click.pass_obj
    def clear(ctx, day, by: str | None) -> None:
        """Remove DATE's entry: the [policy] collection time applies again."""
        from kiosk.calendar.days import clear_day

        with ctx.database().session() as session:
            clear_day(session, day, by=actor(by), now=ctx.now)
            session.commit()
        click.echo(f"cleared {day.isoformat()}: [policy] applies")

    @command(calendar, "import")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--by", type=TEXT, help="Who is doing this (default: your login).")
    @click.pass_obj
    def import_(ctx, file: Path, by: str | None) -> None:
        """Set the dates in FILE, a CSV: date,closed,collect_from,reason (all or nothing)."""
        from kiosk.calendar.days import CalendarImportError, import_days, parse_csv

        try:
            entries = parse_csv(file.read_bytes())
        except CalendarImportError as error:
            for line in error.errors:
                click.echo(f"  {line}", err=True)
            raise
        with ctx.database().session() as session:
            count = import_days(session, entries, by=actor(by), now=ctx.now)
            session.commit()
        click.echo(f"imported {count} date(s) from {file.name}")

    @command(calendar, "close-early")
    @click.option("--reason", required=True, type=TEXT, help="Why (snow, heating failure…).")
    @click.option("--by", type=TEXT, help="Who is doing this (default: your login).")
    @click.pass_obj
    def close_early_(ctx, reason: str, by: str | None) -> None:
        """School closing early: phones may be collected from now, today."""
        from kiosk.calendar.days import close_early

        with ctx.database().session() as session:
            day = close_early(session, ctx.config.policy, reason=reason, by=actor(by),
                              now=ctx.now)
            session.commit()
            click.echo(f"school closing early: collection from {day.collect_from:%H:%M} "
                       f"today ({day.reason})")
