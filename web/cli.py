"""``phonelocker web``, ``users`` and ``demo``: the dashboard's commands.

:func:`register` is the ``phonelocker.commands`` entry point ``web`` (pyproject.toml):
``kiosk/cli/main.py`` calls it, only when a command is not among the kiosk's or the
commands are listed, with the group and :func:`kiosk.cli.base.command` (``--config``
and friendly errors on every subcommand). It uses only ``kiosk.cli.base``'s public API.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from kiosk.cli import base
from kiosk.cli.base import TEXT, Context, emit_json, pass_ctx
from kiosk.errors import ActionError

log = logging.getLogger(__name__)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def register(cli: click.Group, command) -> None:
    """Add ``web``, ``demo`` and the ``users`` group to ``cli``."""

    @command(cli, "web")
    @click.option("--host", help="Address to listen on (default: [web] host).")
    @click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port).")
    @click.option("--trusted-proxy", metavar="ADDRESS",
                  help="A reverse proxy (e.g. 127.0.0.1) whose X-Forwarded-Proto is believed, "
                       "so cookies are marked Secure behind HTTPS.")
    @pass_ctx
    def web(ctx: Context, host: str | None, port: int | None, trusted_proxy: str | None) -> None:
        """Serve the staff dashboard (waitress)."""
        from web import create_app
        from web.server import serve

        base.setup_logging(ctx.debug)
        config = ctx.config
        app = create_app(config, ctx.database())
        host, port = host or config.web.host, port or config.web.port
        try:
            serve(app, host, port, trusted_proxy=trusted_proxy or config.web.trusted_proxy)
        except OSError as error:  # the port is taken, or the address is not this machine's
            reason = error.strerror or error
            raise ActionError(f"cannot listen on {host}:{port}: {reason}") from None
        except ValueError as error:  # waitress: "Invalid host/port specified." (getaddrinfo)
            raise ActionError(f"cannot listen on {host}:{port}: {error}") from None

    @cli.group()
    def users() -> None:
        """Staff accounts for the dashboard (there are no default accounts)."""

    @command(users, "create")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(["teacher", "office", "admin"]))
    @click.option("--class", "classes", multiple=True, type=TEXT,
                  help="A class a teacher sees (repeatable), e.g. --class 6K.")
    @click.option("--email", help="Where email notices go (a teacher's: their classes').")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--by", "actor", help="Who is doing this (default: the system user).")
    @pass_ctx
    def users_create(ctx: Context, username: str, role: str, classes: tuple[str, ...],
                     email: str | None, password_stdin: bool, actor: str | None) -> None:
        """Create a staff account; the password is asked for (hidden, twice)."""
        from kiosk.school import staff
        if role == "teacher" and not classes:
            click.echo("warning: a teacher with no --class sees no pupils", err=True)
        password = _read_password(password_stdin)
        with ctx.database().session() as session:
            user = staff.create_user(session, username, password, role=role,
                                     classes=list(classes), email=email, actor=base.actor(actor),
                                     now=ctx.now)
            session.commit()
            click.echo(f"created {user.username} ({role})")

    @command(users, "list")
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def users_list(ctx: Context, as_json: bool) -> None:
        """List staff accounts."""
        from kiosk.school import staff
        with ctx.database().session() as session:
            rows = [
                {"username": u.username, "role": u.role, "active": u.active,
                 "classes": sorted(c.class_name for c in u.classes), "email": u.email}
                for u in staff.list_users(session)
            ]
        if as_json:
            emit_json(rows)
            return
        if not rows:
            click.echo("no accounts yet: phonelocker users create NAME --role admin")
        for row in rows:
            state = "" if row["active"] else "  (disabled)"
            classes = ", ".join(row["classes"])
            email = f"  <{row['email']}>" if row["email"] else ""
            click.echo(f"{row['username']:<24} {row['role']:<8} {classes}{email}{state}")

    def _user(session, username: str):
        from kiosk.school import staff
        user = staff.get_user(session, username)
        if user is None:
            raise ActionError(f"no account called {username}")
        return user

    @command(users, "set-password")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--by", "actor", help="Who is doing this (default: the system user).")
    @pass_ctx
    def users_set_password(ctx: Context, username: str, password_stdin: bool,
                           actor: str | None) -> None:
        """Set a new password for an account."""
        from kiosk.school import staff
        with ctx.database().session() as session:
            user = _user(session, username)
            staff.set_password(session, user, _read_password(password_stdin),
                               actor=base.actor(actor), now=ctx.now)
            session.commit()
            click.echo(f"password changed for {user.username}")

    @command(users, "set-email")
    @click.argument("username")
    @click.argument("address", required=False)
    @click.option("--clear", is_flag=True, help="Remove the address: no more email notices.")
    @click.option("--by", "actor", help="Who is doing this (default: the system user).")
    @pass_ctx
    def users_set_email(ctx: Context, username: str, address: str | None, clear: bool,
                        actor: str | None) -> None:
        """Set the address an account's email notices go to (or --clear it)."""
        from kiosk.school import staff
        if clear == bool(address):
            raise click.UsageError("give an ADDRESS, or --clear")
        with ctx.database().session() as session:
            user = _user(session, username)
            changed = staff.update_user(session, user, email=address or "", actor=base.actor(actor))
            session.commit()
            click.echo(f"{user.username}: {'; '.join(changed) or 'nothing changed'}")

    for name, active in (("disable", False), ("enable", True)):

        @command(users, name)
        @click.argument("username")
        @click.option("--by", "actor", help="Who is doing this (default: the system user).")
        @pass_ctx
        def users_toggle(ctx: Context, username: str, actor: str | None,
                         _active: bool = active) -> None:
            from kiosk.school import staff
            with ctx.database().session() as session:
                user = _user(session, username)
                staff.update_user(session, user, active=_active, actor=base.actor(actor),
                                  now=ctx.now)
                session.commit()
                click.echo(f"{user.username} {'enabled' if _active else 'disabled'}")

        users_toggle.help = (
            "Let an account log in again." if active
            else "Stop an account logging in (its history stays)."
        )

    @command(cli, "demo")
    @click.option("--host",
                  help="Dashboard address (default 127.0.0.1, or [web] host with --config).")
    @click.option("--port", type=click.IntRange(1, 65535),
                  help="Dashboard port (default 8080, or [web] port with --config).")
    @click.option("--data-dir", default="var/demo", show_default=True,
                  type=click.Path(file_okay=False))
    @click.option("--fresh", is_flag=True, help="Start from an empty demo database.")
    @click.option("--lockers", default=1, show_default=True, type=click.IntRange(1, 4),
                  help="Emulated kiosks, each with its own SQLite, syncing with a central "
                       "SQLite file in --data-dir that the dashboard runs on.")
    @pass_ctx
    def demo(ctx: Context, host: str | None, port: int | None, data_dir: str,
             fresh: bool, lockers: int) -> None:
        """Run a demo school on emulated hardware: kiosk (and dashboard) in one command."""
        from web.demo import run

        base.setup_logging(ctx.debug)
        run(data_dir=Path(data_dir), host=host, port=port, fresh=fresh,
            config_path=ctx.config_path, lockers=lockers)
