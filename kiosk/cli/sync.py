"""``phonelocker sync status | now | join | grants``: a kiosk and the school's central database.

The sync itself runs inside ``phonelocker kiosk`` (:mod:`kiosk.sync.worker`);
these commands show it, run one exchange by hand, join a standalone locker's
school to the central database, and print the kiosk role's grants.
"""

from __future__ import annotations

import click


def register(cli: click.Group, command) -> None:
    """Add the ``sync`` group to ``cli`` using its ``command`` decorator."""
    from kiosk.cli.base import Context, emit_json, fail, pass_ctx

    @cli.group("sync")
    def sync() -> None:
        """This kiosk and the school's central database ([central] url)."""

    def central_config(ctx: Context):
        if ctx.config.central is None:
            fail("this locker has no [central] url: it is a standalone locker", 2)
        return ctx.config

    @command(sync, "status")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctx
    def status(ctx: Context, as_json: bool) -> None:
        """Connected or not, events waiting, last sync, last error."""
        from kiosk.sync.status import sync_status

        config = central_config(ctx)
        document = sync_status(config, ctx.database(), ctx.now)
        if as_json:
            emit_json(document)
            return
        click.echo(f"central: {document['central']}")
        click.echo(document["message"])
        if document["last_error"]:
            click.echo(f"last error: {document['last_error']}")

    @command(sync, "now")
    @pass_ctx
    def sync_now(ctx: Context) -> None:
        """Run one exchange with the central database now (the kiosk need not run)."""
        from kiosk.sync.worker import SyncWorker

        config = central_config(ctx)
        worker = SyncWorker(config, ctx.database())
        try:
            worker.cycle()
        except Exception as error:
            from kiosk.sync.join import short_error

            fail(f"sync failed: {short_error(error)}", 1)
        finally:
            worker.stop()
        from kiosk.sync import state
        from kiosk.sync.mirror import local_write

        with local_write(ctx.database().engine) as local:
            moment = ctx.now.replace(tzinfo=None)
            state.write(local, state.LAST_SYNC_BY_HAND, moment.isoformat(), moment)
        click.echo("synced")

    @command(sync, "join")
    @click.option("--dry-run", is_flag=True, help="Only say what would be matched and added.")
    @click.option("--url", metavar="URL",
                  help="Join through this database URL instead of [central] url: the "
                       "dashboard's role, which may add to the roll (the kiosks' may not).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_ctx
    def join_command(ctx: Context, dry_run: bool, url: str | None, as_json: bool) -> None:
        """Send this standalone locker's pupils, cards and history to the central database."""
        from kiosk.config import ConfigError, check_database_url
        from kiosk.sync.central import central_engine
        from kiosk.sync.join import join

        config = central_config(ctx)
        if url is not None:
            try:
                check_database_url(url, "--url")
            except ConfigError as error:
                fail(error, 2)
        engine = central_engine(url or config.central.url)
        try:
            with engine.connect() as central:
                result = join(central, ctx.database(), config, now=ctx.now.replace(tzinfo=None),
                              dry_run=dry_run)
                if dry_run:
                    central.rollback()
        finally:
            engine.dispose()
        if as_json:
            emit_json(result.as_dict())
        else:
            click.echo(("dry run: " if dry_run else "") + result.summary())
            for name in result.added:
                click.echo(f"  {'would add' if dry_run else 'added'} centrally: {name}")
            for name in result.ambiguous:
                click.echo(f"  could not match: {name}")
        if result.ambiguous:
            raise SystemExit(1)

    @command(sync, "grants")
    @click.argument("role")
    def grants(role: str) -> None:
        """Print the SQL that gives the kiosks' PostgreSQL ROLE least privilege."""
        from kiosk.sync.grants import grant_statements

        try:
            statements = grant_statements(role)
        except ValueError as error:
            fail(error, 2)
        for statement in statements:
            click.echo(statement + ";")
