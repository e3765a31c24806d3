"""``phonelocker notify [--dry-run]``: attached to the kiosk's click group.

Run every minute by ``phonelocker-notify.timer``. Exit 0 when everything due
was sent (or nothing was due, or ``[notify]`` is absent); exit 1 when a
notice could not be sent (it stays queued and is retried with back-off).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click


def register(cli: click.Group, command) -> None:
    """Add ``notify`` to ``cli`` (``command``: kiosk.cli.base's decorator)."""
    from kiosk.cli.base import Context, pass_ctx

    @command(cli, "notify")
    @click.option("--dry-run", is_flag=True,
                  help="Print what would be sent now; send and record nothing.")
    @pass_ctx
    def notify(ctx: Context, dry_run: bool) -> None:
        """Email the notices that are due (phones not collected, faults, alarms)."""
        from kiosk.notify.run import run_notify

        config = ctx.config
        if config.notify is None:
            click.echo("notify: no [notify] section in the config: email notices are off")
            return
        now = datetime.now(UTC)
        database = ctx.database()
        with database.session() as session:
            report = run_notify(session, config, now, dry_run=dry_run)
        if dry_run:
            if not report.would_send:
                click.echo("nothing to send")
            for item in report.would_send:
                click.echo(f"would send to {item.address}: {item.subject}")
                for line in item.body.splitlines():
                    click.echo(f"    {line}")
            return
        for notice in report.queued:
            click.echo(f"queued {notice.kind} {notice.occasion} for {notice.address}")
        sent = report.sent
        for notice in sent.sent:
            click.echo(f"sent to {notice.address}: {notice.subject}")
        for notice in sent.failed:
            click.echo(f"not sent to {notice.address} (attempt {notice.attempts}, retried "
                       f"from {notice.next_attempt_at:%H:%M} UTC): {notice.last_error}",
                       err=True)
        if sent.stopped:
            click.echo(f"notify: stopped: {sent.stopped}", err=True)
        if sent.failed:
            sys.exit(1)
