"""``phonelocker exceptions ...`` and ``phonelocker arrangements ...``: the two registers.

:func:`register` adds both groups to the ``phonelocker`` group; ``kiosk/cli/base.py``
calls it with its ``command`` decorator (``--config``, one-line errors, exit
codes 1 for a refused action and 2 for bad usage).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kiosk.registers.exceptions import KINDS


def register(cli: click.Group, command) -> None:
    """Add the ``exceptions`` and ``arrangements`` groups to ``cli``."""
    from kiosk.cli.base import DB_ID, TEXT, Context, actor, emit_json, pass_ctx
    from kiosk.inputs import parse_day

    def day_option(value: str | None, what: str):
        return parse_day(value, what) if value else None

    @cli.group()
    def exceptions() -> None:
        """Pupils who keep their phone by agreement (medical, SEND, young carer, other)."""

    @command(exceptions, "add")
    @click.argument("pupil_id", type=DB_ID)
    @click.option("--kind", required=True, type=click.Choice(list(KINDS)))
    @click.option("--by", required=True, type=TEXT, help="Who agreed it.")
    @click.option("--reason", required=True, type=TEXT, help="What it is for.")
    @click.option("--from", "starts", help="First day (YYYY-MM-DD; default today).")
    @click.option("--until", help="Last day (YYYY-MM-DD; default: until ended).")
    @click.option("--review", help="When to review it (YYYY-MM-DD).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def exceptions_add(ctx: Context, pupil_id: int, kind: str, by: str, reason: str,
                       starts: str | None, until: str | None, review: str | None,
                       as_json: bool) -> None:
        """Record an agreed exception: the pupil keeps their phone; prints its id."""
        from kiosk.registers.exceptions import add_exception
        from kiosk.registers.queries import exception_row
        from kiosk.school.pupils import get_pupil

        dates = (day_option(starts, "--from"), day_option(until, "--until"),
                 day_option(review, "--review"))
        now = datetime.now(UTC)
        with ctx.database().session() as session:
            pupil = get_pupil(session, pupil_id)
            row = add_exception(
                session, pupil, kind=kind, reason=reason, agreed_by=by, now=now,
                zone=ctx.config.policy.zone, starts_on=dates[0], until=dates[1],
                review_on=dates[2], actor=actor(None),
            )
            session.commit()
            if as_json:
                emit_json(exception_row(row, pupil, ctx.config, _today(ctx, now)))
            else:
                click.echo(row.id)

    @command(exceptions, "list")
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def exceptions_list(ctx: Context, as_json: bool) -> None:
        """Every exception, newest first, with whether it is in force today."""
        from kiosk.registers.queries import exception_row, list_exceptions

        today = _today(ctx)
        with ctx.database().session() as session:
            rows = [exception_row(row, pupil, ctx.config, today)
                    for row, pupil in list_exceptions(session)]
        if as_json:
            emit_json(rows)
            return
        for row in rows:
            span = f"{row['from']} to {row['until'] or 'until ended'}"
            review = f", review {row['review']}" if row["review"] else ""
            due = " (review due)" if row["review_due"] else ""
            click.echo(f"{row['id']:>5}  {row['class']:<8} {row['pupil']:<30} "
                       f"{row['kind_words']:<12} {STANDING[row['standing']]:<13} "
                       f"{span}{review}{due}")

    @command(exceptions, "end")
    @click.argument("exception_id", type=DB_ID)
    @click.option("--by", required=True, type=TEXT, help="Who is ending it.")
    @click.option("--reason", required=True, type=TEXT, help="Why (recorded).")
    @pass_ctx
    def exceptions_end(ctx: Context, exception_id: int, by: str, reason: str) -> None:
        """End an exception today: the pupil is expected to hand their phone in again."""
        from kiosk.registers.exceptions import end_exception, get_exception

        with ctx.database().session() as session:
            row = get_exception(session, exception_id)
            end_exception(session, row, by=by, reason=reason, now=datetime.now(UTC))
            session.commit()
            click.echo(f"exception {row.id} ended for {row.pupil.name}")

    @cli.group()
    def arrangements() -> None:
        """Staff special arrangements agreed by the headteacher."""

    @command(arrangements, "add")
    @click.option("--staff", required=True, type=TEXT, help="The member of staff.")
    @click.option("--what", required=True, type=TEXT, help="What is agreed.")
    @click.option("--by", required=True, type=TEXT, help="Who agreed it.")
    @click.option("--from", "starts", help="First day (YYYY-MM-DD; default today).")
    @click.option("--until", help="Last day (YYYY-MM-DD; default: until ended).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def arrangements_add(ctx: Context, staff: str, what: str, by: str, starts: str | None,
                         until: str | None, as_json: bool) -> None:
        """Record a staff special arrangement; prints its id."""
        from kiosk.registers.arrangements import add_arrangement
        from kiosk.registers.queries import arrangement_row

        dates = (day_option(starts, "--from"), day_option(until, "--until"))
        now = datetime.now(UTC)
        with ctx.database().session() as session:
            row = add_arrangement(
                session, staff_name=staff, arrangement=what, agreed_by=by, now=now,
                zone=ctx.config.policy.zone, starts_on=dates[0], until=dates[1],
                actor=actor(None),
            )
            session.commit()
            if as_json:
                emit_json(arrangement_row(row, ctx.config, _today(ctx, now)))
            else:
                click.echo(row.id)

    @command(arrangements, "list")
    @click.option("--staff", type=TEXT,
                  help="Only this member of staff (any case), e.g. for a subject access request.")
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def arrangements_list(ctx: Context, staff: str | None, as_json: bool) -> None:
        """Every staff arrangement, newest first."""
        from kiosk.registers.queries import arrangement_row, list_arrangements

        today = _today(ctx)
        with ctx.database().session() as session:
            rows = [arrangement_row(row, ctx.config, today)
                    for row in list_arrangements(session, staff=staff)]
        if as_json:
            emit_json(rows)
            return
        for row in rows:
            span = f"{row['from']} to {row['until'] or 'until ended'}"
            click.echo(f"{row['id']:>5}  {row['staff']:<24} {STANDING[row['standing']]:<13} "
                       f"{span}  {row['what']} (agreed by {row['agreed_by']})")

    @command(arrangements, "end")
    @click.argument("arrangement_id", type=DB_ID)
    @click.option("--by", required=True, type=TEXT, help="Who is ending it.")
    @click.option("--reason", required=True, type=TEXT, help="Why (recorded).")
    @pass_ctx
    def arrangements_end(ctx: Context, arrangement_id: int, by: str, reason: str) -> None:
        """End a staff arrangement today."""
        from kiosk.registers.arrangements import end_arrangement, get_arrangement

        with ctx.database().session() as session:
            row = get_arrangement(session, arrangement_id)
            end_arrangement(session, row, by=by, reason=reason, now=datetime.now(UTC))
            session.commit()
            click.echo(f"arrangement {row.id} ended for {row.staff_name}")


#: :func:`kiosk.registers.queries.standing` in words
STANDING = {
    "in_force": "in force",
    "starts_later": "starts later",
    "ended": "ended",
    "expired": "expired",
}


def _today(ctx, now: datetime | None = None):
    from kiosk.school.queries import local_today

    return local_today(ctx.config, now)
