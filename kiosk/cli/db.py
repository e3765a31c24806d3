"""``phonelocker db upgrade``: the database schema."""

from __future__ import annotations

import click

from kiosk.cli.base import Context, pass_ctx
from kiosk.store.db import DatabaseError


def register(cli: click.Group, command) -> None:
    """Add the ``db`` group to ``cli`` (``command``: :func:`kiosk.cli.base.command`)."""

    @cli.group()
    def db() -> None:
        """Database schema."""


    @command(db, "upgrade")
    @pass_ctx
    def db_upgrade(ctx: Context) -> None:
        """Create the database or migrate it to the current schema."""
        database = ctx.database(check=False)
        try:
            database.upgrade()
        except Exception as error:
            raise DatabaseError(f"migration failed: {error}") from error
        from kiosk.store.db import current_revision

        click.echo(f"database {database.url} at revision {current_revision(database.engine)}")
