"""``phonelocker report`` and ``phonelocker bench report``.

:func:`register` adds them; ``kiosk/cli/base.py`` calls it with its ``command``
decorator (``--config`` and friendly errors). ``report`` writes the report as
one standalone HTML file or a CSV table, to ``--output`` or standard output.
Bad dates, ``--from`` after ``--to`` or an unknown class: one line, exit 2.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from kiosk.errors import ActionError


def usage_error(message: str) -> None:
    """One line on standard error and exit code 2 (bad usage), as for a bad config."""
    click.echo(f"phonelocker report: {message}", err=True)
    sys.exit(2)


def parse_day(text: str | None, option: str) -> date:
    if not text:
        usage_error(f"{option} is required, a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        usage_error(f"{option} {text!r} is not a date YYYY-MM-DD")
    raise AssertionError("unreachable")  # pragma: no cover


def register(cli: click.Group, command) -> None:
    """Add ``report`` to ``cli`` and ``report`` to its ``bench`` group."""
    from kiosk.cli.base import Context, pass_ctx

    @command(cli, "report")
    @click.option("--from", "from_", metavar="DATE", help="First day, YYYY-MM-DD (local).")
    @click.option("--to", "to", metavar="DATE", help="Last day, YYYY-MM-DD (local), included.")
    @click.option("--class", "classes", multiple=True, metavar="C",
                  help="Only this class (repeat for several). Default: the whole school.")
    @click.option("--format", "fmt", type=click.Choice(["html", "csv"]), default="html",
                  show_default=True)
    @click.option("--table", type=click.Choice(["weekly", "refusals", "unlocks", "approvals"]),
                  default="weekly", show_default=True, help="Which table, with --format csv.")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write to this file (default: standard output).")
    @pass_ctx
    def report(ctx: Context, from_: str | None, to: str | None, classes: tuple[str, ...],
               fmt: str, table: str, output: Path | None) -> None:
        """The phone policy report for a range of days: standalone HTML or CSV."""
        from kiosk.reports.figures import build_report, check_range
        from kiosk.reports.render import render_csv, render_file
        from kiosk.school.staff import check_classes

        start, end = parse_day(from_, "--from"), parse_day(to, "--to")
        if end < start:
            usage_error(f"--from {start} is after --to {end}")
        try:
            check_range(start, end)
        except ValueError as error:
            usage_error(str(error))
        config = ctx.config
        with ctx.database().session() as session:
            try:
                chosen = check_classes(session, list(classes)) if classes else None
            except ActionError as error:
                usage_error(str(error))
            figures = build_report(session, config, start, end, now=datetime.now(UTC),
                                   classes=chosen)
        text = render_file(figures) if fmt == "html" else render_csv(figures, table)
        if output is None:
            click.echo(text, nl=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise ActionError(f"cannot write {output}: {error.strerror}") from error
        click.echo(f"wrote {output} ({fmt}, {figures.start} to {figures.end}, "
                   f"{len(figures.school_days)} school days)", err=True)

    bench_group = cli.commands["bench"]

    @command(bench_group, "report")
    @click.option("--pupils", default=2000, show_default=True, type=click.IntRange(10, 100_000))
    @click.option("--days", default=190, show_default=True, type=click.IntRange(5, 400),
                  help="School days (weekdays) in the year.")
    @click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 20))
    @click.option("--keep", type=click.Path(dir_okay=False, path_type=Path),
                  help="Build the database in this new file and keep it "
                       "(default: a temporary one).")
    @click.option("--json", "as_json", is_flag=True)
    def bench_report(pupils: int, days: int, runs: int, keep: Path | None,
                     as_json: bool) -> None:
        """Build a school year in bulk and time the whole-year report (html and csv)."""
        from kiosk.devtools.report_bench import run_report_bench

        if keep is not None:
            if keep.exists():
                raise ActionError(f"--keep {keep} already exists: give a new file (nothing "
                                  "is overwritten)")
            try:
                keep.touch(exist_ok=False)  # can it be made there at all?
                keep.unlink()
            except OSError as error:
                raise ActionError(f"--keep {keep}: {error.strerror}") from error
        run_report_bench(pupils=pupils, days=days, runs=runs, keep=keep, as_json=as_json,
                         echo=click.echo)
