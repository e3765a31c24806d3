"""``phonelocker backup | restore | purge | maintenance | export-pupil | rollover``.

The care of the data. :func:`register` adds the commands
to the ``phonelocker`` group (:mod:`kiosk.cli.main` calls it with
:func:`kiosk.cli.base.command`: ``--config`` and friendly errors). The commands
only parse, ask and print; the work is done by :mod:`kiosk.care.backup`,
:mod:`kiosk.care.restore`, :mod:`kiosk.care.nightly`, :mod:`kiosk.care.retention`,
:mod:`kiosk.care.export` and :mod:`kiosk.care.rollover`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from kiosk.cli import base
from kiosk.cli.base import DB_ID
from kiosk.errors import ActionError


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit} ({size} bytes)"
    return f"{size} bytes"  # pragma: no cover


def _describe(facts) -> list[str]:
    lines = [
        f"  size: {human_size(facts.size)}",
        f"  events: {facts.events if facts.events is not None else 'no events table'}"
        + (f" (newest at {str(facts.newest_event_at)[:19]} UTC)" if facts.newest_event_at else ""),
    ]
    if facts.pupils is not None:
        lines.append(f"  pupils: {facts.pupils}")
    lines.append(f"  schema revision: {facts.revision or 'none'}")
    lines.append(f"  integrity check: {'ok' if facts.ok else '; '.join(facts.integrity[:5])}")
    return lines


def run_purge(ctx, *, dry_run: bool, actor: str) -> None:
    """Purge what is past retention and say what was (or would be) removed."""
    from kiosk.care.retention import checkpoint, purge

    retention = ctx.config.retention
    database = ctx.database()
    with database.session() as session:
        result = purge(
            session,
            events_months=retention.events_months,
            leavers_months=retention.leavers_months,
            dry_run=dry_run,
            actor=actor,
            now=ctx.now,
        )
        if dry_run:
            session.rollback()
        else:
            session.commit()
            checkpoint(session)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {result.events} event(s) older than {retention.events_months} months "
        f"(before {result.events_before:%Y-%m-%d %H:%M} UTC)"
    )
    click.echo(
        f"{verb} {result.pupils} pupil(s) who left more than {retention.leavers_months} "
        f"months ago (before {result.leavers_before:%Y-%m-%d %H:%M} UTC): "
        f"{result.cards} card(s), {result.approvals} approval(s), "
        f"{result.early_releases} early release(s); "
        f"{result.scrubbed_events} of their later event(s) "
        f"{'would be' if dry_run else 'were'} anonymised"
    )
    click.echo(
        f"{verb} {result.commands} command(s) (finished more than 30 days ago, "
        "or for those pupils)"
    )
    click.echo(
        f"{verb} {result.exceptions} pupil exception(s) and {result.arrangements} staff "
        "arrangement(s) (over before the events cut-off, or for those pupils)"
    )
    for pupil_id, name, locker, bay in result.kept_with_phone:
        click.echo(
            f"kept pupil {pupil_id} {name}: their phone is still recorded in {locker} "
            f"bay {bay}; return it, then purge again",
            err=True,
        )
    if result.inactive_without_date:
        click.echo(
            f"note: {result.inactive_without_date} inactive pupil(s) have no leaving date "
            "and are never purged"
        )
    if dry_run:
        click.echo("dry run: nothing was changed")


def register(cli: click.Group, command) -> None:
    """Add the maintenance commands to ``cli`` using its ``command`` decorator."""

    @command(cli, "backup")
    @click.argument("dest", type=click.Path(path_type=Path))
    @click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
    @click.pass_obj
    def backup(ctx, dest: Path, force: bool) -> None:
        """Copy the live SQLite database to DEST while the kiosk keeps running.

        Uses SQLite's online backup API (one consistent snapshot, never a file
        copy), then checks the copy with PRAGMA integrity_check. DEST may be a
        folder: a timestamped file is made in it. For PostgreSQL use pg_dump.
        """
        from kiosk.care.backup import backup_database
        from kiosk.care.sqlite_files import sqlite_path

        source = sqlite_path(ctx.config.database.url)
        facts = backup_database(source, dest, force=force)
        click.echo(f"backup written to {facts.path}")
        for line in _describe(facts):
            click.echo(line)

    @command(cli, "restore")
    @click.argument("src", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.pass_obj
    def restore(ctx, src: Path, yes: bool) -> None:
        """Replace the database with the backup SRC (stop the kiosk first).

        Refuses while a kiosk's heartbeat is fresh (written within
        [web].offline_after_seconds and not marked stopped). That heartbeat is
        the only check made: a kiosk hung for longer, or started meanwhile, is
        not detected. The dashboard may stay up; it sees the restored data.
        SRC must pass PRAGMA integrity_check and carry a schema revision this
        version knows. The current database is kept beside it as
        NAME.before-restore-TIMESTAMP, then SRC is copied in with SQLite's
        backup API (the file keeps its owner and permissions).
        """
        from kiosk.care.restore import carry_out, needs_upgrade, plan_restore

        plan = plan_restore(ctx.config, src)
        target = plan.target
        click.echo(f"restore {src} into {target}")
        for line in _describe(plan.facts):
            click.echo(line)
        click.echo(f"  kiosk check: {plan.heartbeat_note}")
        if target.exists():
            click.echo(f"  the current database is kept as {target.name}.before-restore-<time>")
        if not yes:
            click.confirm("Replace the current database with this backup?", abort=True)

        result = carry_out(plan)
        click.echo(f"restored {src} into {target}")
        for line in _describe(result.restored):
            click.echo(line)
        if result.kept:
            click.echo(f"previous database kept at {result.kept}")
        if needs_upgrade(result):
            click.echo(
                f"the backup is at schema revision {result.restored.revision}: run "
                "'phonelocker db upgrade' before starting the kiosk"
            )
        click.echo("start the kiosk again: sudo systemctl start phonelocker-kiosk")

    @command(cli, "purge")
    @click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
    @click.option("--by", "actor", help="Who is purging (default: the system user).")
    @click.pass_obj
    def purge_command(ctx, dry_run: bool, actor: str | None) -> None:
        """Remove what is past retention ([retention] in the config).

        Events older than events_months (calendar months); pupils who left more
        than leavers_months ago with their cards, approvals, early releases and
        commands (their remaining events lose the pupil id and card UID);
        finished commands older than 30 days. Records a purge event with the
        counts. Backups taken earlier still hold what was removed.
        """
        run_purge(ctx, dry_run=dry_run, actor=base.actor(actor))

    @command(cli, "maintenance")
    @click.option("--backup-dir", type=click.Path(path_type=Path, file_okay=False),
                  help="Folder for the nightly backup (made 0700 if missing). "
                       "Default: 'backups' beside the database.")
    @click.option("--keep", default=14, show_default=True, type=click.IntRange(1, 3650),
                  help="Nightly backups to keep in that folder; older ones are deleted.")
    @click.pass_obj
    def maintenance_command(ctx, backup_dir: Path | None, keep: int) -> None:
        """The nightly job: purge what is past retention, refresh the planner's statistics
        (ANALYZE), then back up the database.

        The backup is phonelocker-nightly-<UTC time>.db; only files named so
        are rotated (the newest --keep stay), so copies made by hand in the same
        folder are never deleted. A failed purge does not stop the backup; the
        command then exits 1. On PostgreSQL the backup is skipped (use pg_dump
        on the database server) and the purge still runs.
        """
        from kiosk.care.backup import prune_nightly_backups
        from kiosk.care.nightly import first_line, nightly_backup, nightly_folder

        purge_failed = None
        try:
            run_purge(ctx, dry_run=False, actor=base.actor(None))
        except Exception as error:
            purge_failed = first_line(error)
            click.echo(f"purge failed: {purge_failed}", err=True)

        # Fresh planner statistics, so the day's queries keep using their indexes
        # as the history grows (kiosk.store.db.analyze); a failure does not stop the backup.
        from kiosk.store.db import analyze

        try:
            analyze(ctx.database().engine)
            click.echo("planner statistics refreshed (ANALYZE)")
        except Exception as error:
            click.echo(f"ANALYZE failed: {error}", err=True)

        url = ctx.config.database.url
        folder = nightly_folder(url, backup_dir)
        if folder is None:
            click.echo("backup skipped: the database is not SQLite; back it up with its own "
                       "tool on the database server (pg_dump for PostgreSQL)")
        else:
            facts = nightly_backup(url, folder)
            click.echo(f"backup written to {facts.path}")
            for line in _describe(facts):
                click.echo(line)
            for path in prune_nightly_backups(folder, keep):
                click.echo(f"removed old backup {path.name} (keeping the newest {keep})")
        if purge_failed:
            raise ActionError(f"the purge failed: {purge_failed}")

    @command(cli, "export-pupil")
    @click.argument("pupil_id", type=DB_ID)
    @click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
                  help="Write the JSON to this file (mode 0600) instead of printing it.")
    @click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
    @click.pass_obj
    def export_pupil_command(ctx, pupil_id: int, output: Path | None, force: bool) -> None:
        """Everything held about one pupil, as JSON (a subject access request).

        The pupil record, cards, Year 5 approvals, early releases, the phone in
        the locker, every event about them and their commands; times in ISO 8601
        with the school's offset.
        """
        from kiosk.care.export import export_pupil

        if output is not None and output.exists() and not force:
            raise ActionError(f"{output} already exists (use --force to overwrite it)")
        with ctx.database().session() as session:
            document = export_pupil(session, pupil_id, ctx.config, now=ctx.now)
        data = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            click.echo(data, nl=False)
            return
        try:
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(data)
        except OSError as error:
            raise ActionError(f"cannot write {output}: {error.strerror}") from None
        click.echo(
            f"pupil {pupil_id}: {len(document['events'])} event(s), "
            f"{len(document['cards'])} card(s) written to {output}",
            err=True,
        )

    @command(cli, "rollover")
    @click.option("--dry-run", is_flag=True, help="Show exactly what would change; write nothing.")
    @click.option("--by", "actor", help="Who is doing it (default: the system user).")
    @click.option("--force", is_flag=True,
                  help="Go on although phones are in a locker or a rollover ran recently.")
    @click.pass_obj
    def rollover_command(ctx, dry_run: bool, actor: str | None, force: bool) -> None:
        """New school year: every active pupil moves up a year; Year 6 leave.

        Leavers are archived (inactive, left now, cards revoked); every Year 5
        approval in force is ended. Refused while any phone is in a locker, or
        within 180 days of the last rollover, unless --force (a dry run then
        exits 1 too). Classes are not changed: re-import them from the MIS
        afterwards.
        """
        from kiosk.care.rollover import LEAVING_YEAR, apply_rollover, plan_rollover
        from kiosk.school.queries import local_today

        who = base.actor(actor)
        with ctx.database().session() as session:
            plan = plan_rollover(session, now=ctx.now, today=local_today(ctx.config, ctx.now))
            prefix = "would " if dry_run else ""
            click.echo(f"{'Dry run: ' if dry_run else ''}rollover by {who}")
            click.echo(f"{prefix}move up one year: {len(plan.moves)} pupil(s)")
            for key, value in plan.year_counts.items():
                click.echo(f"  Year {key.replace('->', ' -> ')}: {value}")
            for move in plan.moves:
                click.echo(
                    f"  {move.pupil_id:>5}  {move.name}  ({move.class_name}) "
                    f"Year {move.year_from} -> {move.year_to}"
                )
            click.echo(
                f"{prefix}leave (Year {LEAVING_YEAR}, archived; {plan.cards_to_revoke} card(s) "
                f"revoked): {len(plan.leavers)} pupil(s)"
            )
            for move in plan.leavers:
                click.echo(
                    f"  {move.pupil_id:>5}  {move.name}  ({move.class_name}) Year {move.year_from}"
                )
            click.echo(f"{prefix}end Year 5 approvals: {len(plan.approvals_to_end)}")
            for approval_id, pupil_id, name in plan.approvals_to_end:
                click.echo(f"  approval {approval_id}: {pupil_id:>5}  {name}")
            click.echo(
                "classes are not changed: re-import them from the MIS "
                "(phonelocker pupils import FILE)"
            )
            blockers = plan.blockers()
            for problem in blockers:
                click.echo(f"{'warning' if force else 'blocked'}: {problem}", err=True)
            if dry_run:
                session.rollback()
                if blockers and not force:
                    raise ActionError("a real rollover would be refused (see above; --force)")
                click.echo("dry run: nothing was changed")
                return
            apply_rollover(session, plan, actor=who, force=force)
            session.commit()
        click.echo(
            f"rollover done: {len(plan.moves)} moved up, {len(plan.leavers)} left, "
            f"{plan.cards_to_revoke} card(s) revoked, {len(plan.approvals_to_end)} approval(s) "
            f"ended (event {plan.event_id})"
        )
