"""``phonelocker pupils ...``: add, import and list pupils; approvals, early collection, cards.

:func:`register` adds the ``pupils`` group to the ``phonelocker`` group;
:mod:`kiosk.cli.main` calls it with :func:`kiosk.cli.base.command` (``--config`` and
friendly errors). The work itself is done by :mod:`kiosk.school.pupils` and
:mod:`kiosk.school.importer`.
"""

from __future__ import annotations

from pathlib import Path

import click

from kiosk.cli import base
from kiosk.cli.base import DB_ID, TEXT, Context, emit_json, pass_ctx
from kiosk.errors import ActionError


def register(cli: click.Group, command) -> None:
    """Add the ``pupils`` group and its subcommands to ``cli``."""

    @cli.group()
    def pupils() -> None:
        """Add, import, list pupils; Year 5 approvals; early collection; cards."""

    @command(pupils, "add")
    @click.option("--name", required=True)
    @click.option("--year", required=True, type=int)
    @click.option("--class", "class_name", required=True)
    @click.option("--card", "card_uid", help="Card UID (hex).")
    @click.option("--upn", "external_id", help="UPN or admission number (stable id).")
    @click.option("--bay", type=click.IntRange(1, 999),
                  help="Bay number in a multi-bay locker (one the locker has).")
    @click.option("--by", "actor", help="Who is adding (default: the system user).")
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def pupils_add(ctx: Context, name: str, year: int, class_name: str, card_uid: str | None,
                   external_id: str | None, bay: int | None, actor: str | None,
                   as_json: bool) -> None:
        """Add a pupil; prints the new pupil's id."""
        from kiosk.inputs import check_bay
        from kiosk.school.pupils import add_pupil, known_bays

        with ctx.database().session() as session:
            check_bay(bay, known_bays(session, ctx.config), what="--bay")
            pupil = add_pupil(
                session, name=name, year=year, class_name=class_name, card_uid=card_uid,
                external_id=external_id, bay=bay, actor=base.actor(actor), now=ctx.now,
            )
            session.commit()
            if as_json:
                emit_json({"id": pupil.id, "name": pupil.name, "year": pupil.year,
                           "class": pupil.class_name, "card": card_uid and pupil.cards[-1].uid})
            else:
                click.echo(pupil.id)

    @command(pupils, "import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--dry-run", is_flag=True,
                  help="Check and show what would change; write nothing.")
    @click.option("--by", "actor", help="Who is importing (default: the system user).")
    @pass_ctx
    def pupils_import(ctx: Context, file: str, dry_run: bool, actor: str | None) -> None:
        """Import pupils from a school MIS CSV export (all or nothing)."""
        from kiosk.school.importer import apply_import
        from kiosk.school.pupil_csv import format_errors, format_mismatches, parse_pupils_csv

        plan = parse_pupils_csv(Path(file).read_bytes())
        for warning in plan.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not plan.ok:
            click.echo(format_errors(plan), err=True)
            raise ActionError(f"{file}: nothing imported ({len(plan.errors)} problem(s))")
        with ctx.database().session() as session:
            result = apply_import(session, plan, actor=base.actor(actor), dry_run=dry_run)
            if dry_run:
                session.rollback()
            else:
                session.commit()
        verb = "would import" if dry_run else "imported"
        click.echo(
            f"{verb}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
        mismatches = format_mismatches(plan)
        if mismatches:  # imported as the file says; the office checks these with the MIS
            count = len(mismatches)
            click.echo(f"year does not match class in {count} row{'s' if count != 1 else ''}"
                       " (check them in the MIS):")
            for line in mismatches:
                click.echo(f"  {line}")

    @command(pupils, "list")
    @click.option("--json", "as_json", is_flag=True)
    @click.option("--all", "include_inactive", is_flag=True, help="Include pupils who have left.")
    @pass_ctx
    def pupils_list(ctx: Context, as_json: bool, include_inactive: bool) -> None:
        """List pupils with their cards."""
        from sqlalchemy import select

        from kiosk.store.models import Pupil

        with ctx.database().session() as session:
            query = select(Pupil).order_by(Pupil.class_name, Pupil.name)
            if not include_inactive:
                query = query.where(Pupil.active)
            rows = [
                {
                    "id": p.id, "name": p.name, "year": p.year, "class": p.class_name,
                    "active": p.active, "upn": p.external_id, "bay": p.bay,
                    "cards": [c.uid for c in p.cards if c.active],
                }
                for p in session.scalars(query)
            ]
        if as_json:
            emit_json(rows)
            return
        for row in rows:
            cards = ", ".join(row["cards"]) or "no card"
            click.echo(
                f"{row['id']:>5}  {row['class']:<8} Y{row['year']:<3} {row['name']:<30} {cards}"
            )

    @command(pupils, "approve")
    @click.argument("pupil_id", type=DB_ID)
    @click.option("--by", required=True, type=TEXT,
                  help="Who on the senior leadership team agreed.")
    @click.option("--until", help="Last day the approval is in force (YYYY-MM-DD).")
    @pass_ctx
    def pupils_approve(ctx: Context, pupil_id: int, by: str, until: str | None) -> None:
        """Record SLT agreement that a Year 5 pupil may bring a phone."""
        from kiosk.inputs import parse_day
        from kiosk.school.pupils import approve_year5, get_pupil
        from kiosk.school.queries import local_today

        end = parse_day(until, "--until") if until else None
        with ctx.database().session() as session:
            pupil = get_pupil(session, pupil_id)
            approve_year5(session, pupil, by=by, until=end, now=ctx.now,
                          today=local_today(ctx.config, ctx.now))
            session.commit()
            click.echo(f"approved: {pupil.name}" + (f" until {end}" if end else ""))

    @command(pupils, "release")
    @click.argument("pupil_id", type=DB_ID)
    @click.option("--by", required=True, type=TEXT, help="Who authorised it.")
    @click.option("--reason", required=True, type=TEXT, help="Why (recorded).")
    @pass_ctx
    def pupils_release(ctx: Context, pupil_id: int, by: str, reason: str) -> None:
        """Authorise an early collection for today."""
        from kiosk.school.pupils import get_pupil, release_early
        from kiosk.school.queries import local_today

        with ctx.database().session() as session:
            pupil = get_pupil(session, pupil_id)
            release_early(session, pupil, by=by, reason=reason,
                          on_date=local_today(ctx.config, ctx.now), now=ctx.now)
            session.commit()
            click.echo(f"early collection authorised today for {pupil.name}")

    @command(pupils, "card")
    @click.argument("pupil_id", type=DB_ID)
    @click.argument("uid")
    @click.option("--by", "actor", help="Who (default: the system user).")
    @pass_ctx
    def pupils_card(ctx: Context, pupil_id: int, uid: str, actor: str | None) -> None:
        """Give a pupil a card (replacing any card they had)."""
        from kiosk.school.pupils import assign_card, get_pupil

        with ctx.database().session() as session:
            pupil = get_pupil(session, pupil_id)
            card = assign_card(session, pupil, uid, actor=base.actor(actor), now=ctx.now)
            session.commit()
            click.echo(f"card {card.uid} assigned to {pupil.name}")

    @command(pupils, "revoke-card")
    @click.argument("uid")
    @click.option("--by", "actor", help="Who (default: the system user).")
    @click.option("--reason", default="lost", show_default=True, type=TEXT)
    @pass_ctx
    def pupils_revoke_card(ctx: Context, uid: str, actor: str | None, reason: str) -> None:
        """Cancel a lost card; it is refused from now on."""
        from kiosk.school.pupils import revoke_card

        with ctx.database().session() as session:
            card = revoke_card(session, uid, actor=base.actor(actor), reason=reason, now=ctx.now)
            session.commit()
            click.echo(f"card {card.uid} revoked")

    @command(pupils, "deactivate")
    @click.argument("pupil_id", type=DB_ID)
    @click.option("--by", "actor", help="Who (default: the system user).")
    @pass_ctx
    def pupils_deactivate(ctx: Context, pupil_id: int, actor: str | None) -> None:
        """Mark a pupil as left; their cards are refused, their history kept."""
        from kiosk.school.pupils import get_pupil, update_pupil

        with ctx.database().session() as session:
            pupil = get_pupil(session, pupil_id)
            update_pupil(session, pupil, actor=base.actor(actor), active=False, now=ctx.now)
            session.commit()
            click.echo(f"{pupil.name} deactivated")
