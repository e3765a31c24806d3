"""``phonelocker bench [import | school | sync] | doctor``: measuring and checking an installation.

The work is :mod:`kiosk.devtools.bench`, :mod:`kiosk.devtools.bench_import` and
:mod:`kiosk.care.doctor`.
(``phonelocker demo`` needs the dashboard, so ``web/cli.py`` declares it.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kiosk.cli.base import FiniteFloatRange, config_option, friendly_errors


def register(cli: click.Group, command) -> None:
    """Add ``bench`` and ``doctor`` to ``cli`` (``command``: :func:`kiosk.cli.base.command`)."""

    # A group that still runs the kiosk figures by itself: "phonelocker bench" is unchanged.
    @cli.group("bench", invoke_without_command=True)
    @config_option
    @click.option("--taps", default=1000, show_default=True, type=click.IntRange(100, 10_000_000))
    @click.option("--idle-seconds", default=30.0, show_default=True,
                  type=FiniteFloatRange(1, 3600))
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    @friendly_errors
    def bench(click_ctx: click.Context, taps: int, idle_seconds: float, as_json: bool) -> None:
        """Measure the tap path, idle CPU, memory and start-up; print the figures.

        'phonelocker bench import' measures the pupil import's write instead.
        """
        if click_ctx.invoked_subcommand is not None:
            return
        from kiosk.devtools.bench import run_benchmarks

        run_benchmarks(taps=taps, idle_seconds=idle_seconds, as_json=as_json, echo=click.echo)

    @command(bench, "import")
    @click.option("--rows", multiple=True, type=click.IntRange(10, 1_000_000),
                  default=(2000, 50000), show_default=True,
                  help="File size(s) to import; repeat for several.")
    @click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 20))
    @click.option("--json", "as_json", is_flag=True)
    def bench_import(rows: tuple[int, ...], runs: int, as_json: bool) -> None:
        """Time a pupil import's phases and the write lock it holds, on a scratch database."""
        from kiosk.devtools.bench_import import run_import_benchmarks

        run_import_benchmarks(rows, runs=runs, as_json=as_json, echo=click.echo)

    @command(bench, "school")
    @click.option("--pupils", default=2000, show_default=True, type=click.IntRange(30, 100_000))
    @click.option("--classes", default=60, show_default=True, type=click.IntRange(1, 2000))
    @click.option("--days", default=190, show_default=True, type=click.IntRange(1, 400),
                  help="School days of history before today.")
    @click.option("--keep", type=click.Path(path_type=Path, file_okay=False),
                  help="Build the big school here and leave DIR/config.toml and its database.")
    @click.option("--url", help="Build the big school in this database instead (e.g. an empty "
                                "PostgreSQL database); the small one stays SQLite.")
    @click.option("--requests", default=30, show_default=True, type=click.IntRange(5, 10_000))
    @click.option("--poll-seconds", default=60.0, show_default=True,
                  type=FiniteFloatRange(5, 3600), help="How long the Today tab polls.")
    @click.option("--taps", default=200, show_default=True, type=click.IntRange(20, 100_000))
    @click.option("--json", "as_json", is_flag=True)
    def bench_school(pupils: int, classes: int, days: int, keep: Path | None, url: str | None,
                     requests: int, poll_seconds: float, taps: int, as_json: bool) -> None:
        """Measure the dashboard at the size of a whole school against a 30-pupil one."""
        from kiosk.devtools.bench_school import run_school_benchmarks

        run_school_benchmarks(pupils=pupils, classes=min(classes, pupils), days=days,
                              keep=keep, url=url, requests=requests,
                              poll_seconds=poll_seconds, taps=taps, as_json=as_json,
                              echo=click.echo)

    @command(bench, "sync")
    @click.option("--url", help="The central database: an empty one (e.g. PostgreSQL); "
                                "default a SQLite file in a temporary folder.")
    @click.option("--pupils", default=2000, show_default=True, type=click.IntRange(1, 100_000),
                  help="Pupils on the central roll.")
    @click.option("--taps", default=40, show_default=True, type=click.IntRange(2, 10_000),
                  help="Taps at the kiosk's reader for tap -> visible.")
    @click.option("--changes", default=20, show_default=True, type=click.IntRange(2, 1000),
                  help="Central changes for change -> kiosk.")
    @click.option("--catch-up", "catch_up", default=10_000, show_default=True,
                  type=click.IntRange(10, 1_000_000), help="Queued events to send.")
    @click.option("--ratio-taps", default=500, show_default=True,
                  type=click.IntRange(10, 1_000_000), help="Taps per tap-path ratio.")
    @click.option("--idle-seconds", default=10.0, show_default=True,
                  type=FiniteFloatRange(1, 3600))
    @click.option("--json", "as_json", is_flag=True)
    def bench_sync(url: str | None, pupils: int, taps: int, changes: int, catch_up: int,
                   ratio_taps: int, idle_seconds: float, as_json: bool) -> None:
        """Measure a kiosk syncing with a central database: delays both ways, catch-up,
        the tap path with the central database reachable, unreachable and absent."""
        from kiosk.devtools.bench_sync import run_sync_benchmarks

        run_sync_benchmarks(url=url, pupils=pupils, taps=taps, changes=changes,
                            catch_up=catch_up, ratio_taps=ratio_taps,
                            idle_seconds=idle_seconds, as_json=as_json, echo=click.echo)

    @command(cli, "doctor")
    @click.pass_obj
    def doctor(ctx) -> None:
        """Check config, database, reader, GPIO, clock, disk and services."""
        from kiosk.care.doctor import run_checks

        checks = run_checks(ctx.config_path)
        for check in checks:
            click.echo(check.line())
        failed = [check.name for check in checks if check.ok is False]
        if failed:
            click.echo(f"{len(failed)} problem(s): {', '.join(failed)}", err=True)
            sys.exit(1)
