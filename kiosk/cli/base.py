"""``phonelocker``: one click group for every command.

Every command takes ``--config`` (or ``PHONELOCKER_CONFIG``) and ``--help``.
Exit codes: 0 success, 1 the action failed (the message says why), 2 bad
usage or a bad config file. Every error is one line on standard error; an
error nobody foresaw is one line too ("unexpected error"), with the traceback
only under ``--debug``.

The dashboard's commands (``web``, ``users``, ``demo``) live in ``web/`` and
are attached here lazily, so ``kiosk/`` never imports ``web/`` at import time.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property, wraps
from pathlib import Path

import click

from kiosk.config import ENV_VAR, Config, ConfigError, load_config
from kiosk.errors import ActionError
from kiosk.inputs import MAX_DB_ID, InputError, check_text
from kiosk.store.db import Database, DatabaseError
from kiosk.store.events import Kind

log = logging.getLogger(__name__)

EVENT_KINDS = [kind.value for kind in Kind]


class Context:
    """Lazily loaded config and database, shared by the subcommands."""

    def __init__(self, config_path: str | None, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self._config: Config | None = None
        self._db: Database | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @cached_property
    def now(self) -> datetime:
        """The wall clock (aware UTC), read once: one command's stamps all agree."""
        return datetime.now(UTC)

    def database(self, check: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.config.database.url)
        if check:
            self._db.check()
        return self._db


pass_ctx = click.make_pass_decorator(Context)

#: a database id argument or option (pupil, command…): 1..2^63-1, as the tables hold
DB_ID = click.IntRange(1, MAX_DB_ID)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf (which compare false with any
    bound, so FloatRange lets them through)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class SafeText(click.ParamType):
    """Text with no control characters (a name, a reason, who did it)."""

    name = "text"

    def convert(self, value, param, ctx):
        try:
            return check_text(value, "the value")
        except InputError as error:
            self.fail(str(error), param, ctx)


TEXT = SafeText()


def one_line(message: object) -> str:
    """``message`` on one line: a newline or escape typed into a value must not split
    (or colour) the error that echoes it."""
    return "".join(
        char if char.isprintable() else repr(char)[1:-1] for char in str(message)
    )


def fail(message: object, code: int) -> None:
    click.echo(f"phonelocker: {one_line(message)}", err=True)
    sys.exit(code)


def friendly_errors(function: Callable) -> Callable:
    """Turn the errors a user can fix into a one-line message and an exit code."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ConfigError as error:
            fail(f"config error: {error}", 2)
        except (ActionError, DatabaseError, InputError) as error:
            fail(error, 1)
        except OSError as error:  # a path given on the command line: missing, too long…
            fail(error, 1)

    return wrapper


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _actor(by: str | None) -> str:
    """Who did it: --by, else the person behind sudo, else the system user."""
    import getpass
    import os

    if by is not None:
        try:
            check_text(by, "--by")
        except InputError as error:
            raise ActionError(str(error)) from None
    return by or f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def _setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug:
        import nfc  # noqa: F401 - nfcpy sets its own logger to INFO when imported

        logging.getLogger("nfc").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)


class PhoneLockerGroup(click.Group):
    """Attaches the dashboard's commands only when one of them (or --help) is asked for.

    Importing Flask costs a third of a second; ``phonelocker status`` and the
    kiosk have no use for it.
    """

    _extensions_attached = False

    def _attach(self) -> None:
        if not self._extensions_attached:
            self._extensions_attached = True
            _attach_web_commands(self)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = super().get_command(ctx, name)
        if found is None:
            self._attach()
            found = super().get_command(ctx, name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._attach()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context):
        """The safety net: an exception no command handles is one line and exit 1
        (the traceback only with --debug). Known errors are handled where they occur."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            state = ctx.find_object(Context)
            if state is not None and state.debug:
                raise
            log.debug("unexpected error", exc_info=True)
            fail(f"unexpected error: {type(error).__name__}: {error} "
                 "(run with --debug for the details)", 1)


@click.group(cls=PhoneLockerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar=ENV_VAR,
    type=click.Path(dir_okay=False),
    help=f"Config file (TOML). Default: ${ENV_VAR}, else built-in emulated defaults.",
)
@click.option("--debug", is_flag=True, help="Log everything, including nfcpy's chatter.")
@click.version_option(package_name="phone-locker")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Phone Locker: pupils' phones locked away during the school day."""
    ctx.obj = Context(config_path, debug)


# Subcommands accept --config after their name too ("phonelocker status --config X").
def config_option(function: Callable) -> Callable:
    def remember(ctx: click.Context, _param, value):
        if value is not None:
            ctx.find_object(Context).config_path = value
        return value

    return click.option(
        "--config",
        "config_override",
        type=click.Path(dir_okay=False),
        expose_value=False,
        is_eager=True,
        callback=remember,
        help="Config file (TOML); same as the global --config.",
    )(function)


def command(group: click.Group, *args, **kwargs):
    """Declare a subcommand with --config and friendly errors."""

    def decorate(function: Callable) -> click.Command:
        return group.command(*args, **kwargs)(config_option(friendly_errors(function)))

    return decorate


# --- db -----------------------------------------------------------------------


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
    except Exception as error:  # noqa: BLE001 - report any driver error plainly
        raise DatabaseError(f"migration failed: {error}") from error
    from kiosk.store.db import current_revision

    click.echo(f"database {database.url} at revision {current_revision(database.engine)}")


# --- kiosk ----------------------------------------------------------------------


@command(cli, "kiosk")
@pass_ctx
def kiosk_command(ctx: Context) -> None:
    """Run the kiosk: card reader, locks, lights, commands and heartbeat."""
    from hardware.errors import HardwareError
    from kiosk.locker.daemon import Kiosk
    from kiosk.locker.stopping import install_stop_signals

    _setup_logging(ctx.debug)
    config = ctx.config
    database = ctx.database()
    try:
        kiosk = Kiosk(config, database)
    except HardwareError as error:
        click.echo(f"phonelocker: {error}", err=True)
        sys.exit(3)
    install_stop_signals(kiosk.stop)
    kiosk.run()


# --- tap ------------------------------------------------------------------------


@command(cli, "tap")
@click.argument("uid")
@click.option("--hold", default=0.5, show_default=True, type=FiniteFloatRange(0.05, 60),
              help="Seconds the card stays on the reader after it is read.")
@click.option("--timeout", default=5.0, show_default=True, type=FiniteFloatRange(0.5, 120),
              help="Seconds to wait for the reader to sense the card.")
@pass_ctx
def tap(ctx: Context, uid: str, hold: float, timeout: float) -> None:
    """Present a virtual card UID to the emulated reader (udp)."""
    from hardware.errors import HardwareError
    from hardware.virtual_card import present_card
    from kiosk.school.pupils import normalise_uid

    uid = normalise_uid(uid)
    try:
        present_card(uid, hold=hold, path=ctx.config.reader.device, timeout=timeout)
    except HardwareError as error:
        raise ActionError(str(error)) from error
    click.echo(f"card {uid} read by the reader")


# --- status / events / lockers ----------------------------------------------------


STATE_LABELS = {
    "not_handed_in": "not handed in",
    "in_locker": "in locker",
    "collected": "collected",
    "school_closed": "no school today",
}


@command(cli, "status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Today's state of every pupil's phone."""
    from kiosk.registers.exceptions import kind_words
    from kiosk.school.queries import pupil_states

    with ctx.database().session() as session:
        document = pupil_states(session, ctx.config, now=ctx.now)
    if as_json:
        emit_json(document)
        return
    click.echo(f"Phones on {document['date']}")
    day = document["calendar"]
    if day is not None:
        click.echo("  school closed: " + day["reason"] if day["closed"] else
                   f"  collection from {day['collect_from']} today: {day['reason']}")
    for row in document["pupils"]:
        label = STATE_LABELS[row["state"]]
        if row["state"] == "not_handed_in" and row["exception"]:
            label = f"keeps phone: {kind_words(row['exception']['kind'])}"
        when = row["collected_at"] or row["handed_in_at"]
        extra = f" at {when[11:16]}" if when else ""
        flag = "  (kept overnight)" if row["overnight"] else ""
        click.echo(f"  {row['class']:<8} {row['name']:<30} {label}{extra}{flag}")


@command(cli, "events")
@click.option("--since", help="Only events at or after this ISO 8601 time or date.")
@click.option("--kind", multiple=True, type=click.Choice(EVENT_KINDS),
              help="Only these kinds (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def events(ctx: Context, since: str | None, kind: tuple[str, ...], as_json: bool) -> None:
    """The event log (append-only), oldest first."""
    from kiosk.school.queries import event_dict, query_events

    since_at = _parse_since(since, ctx.config) if since else None
    with ctx.database().session() as session:
        rows = [event_dict(e, ctx.config) for e in query_events(
            session, since=since_at, kinds=list(kind) or None)]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        who = f" pupil {row['pupil_id']}" if row["pupil_id"] else ""
        where = f" {row['locker']}/{row['bay']}" if row["locker"] else ""
        click.echo(
            f"{row['at']}  {row['kind']:<14}{who}{where}"
            f"{' card ' + row['card_uid'] if row['card_uid'] else ''}"
            f"{' by ' + row['actor'] if row['actor'] else ''}"
            f"{' — ' + row['reason'] if row['reason'] else ''}"
        )


def _parse_since(text: str, config: Config) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ActionError(f"--since {text!r} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.policy.zone)
    try:
        moment.astimezone(UTC)  # as the query will; years 1 and 9999 can fall off the end
    except OverflowError:
        raise ActionError(f"--since {text!r} is out of range") from None
    return moment


@command(cli, "lockers")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--forget", "forget_id", metavar="ID",
              help="Remove a locker that no longer exists (its events are kept).")
@click.option("--by", "actor", help="Who (with --forget; default: the system user).")
@pass_ctx
def lockers(ctx: Context, as_json: bool, forget_id: str | None, actor: str | None) -> None:
    """Each locker: online, reader, bays locked/unlocked, doors."""
    from kiosk.school.queries import locker_states

    if forget_id is not None:
        from kiosk.school.commands import forget_locker

        with ctx.database().session() as session:
            forget_locker(session, forget_id, actor=_actor(actor), now=ctx.now)
            session.commit()
        click.echo(f"locker {forget_id} forgotten")
        return

    with ctx.database().session() as session:
        rows = locker_states(session, ctx.config, now=ctx.now)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no lockers yet: start 'phonelocker kiosk'")
    for row in rows:
        state = "online" if row["online"] else "OFFLINE"
        reader = "reader ok" if row["reader_ok"] else "READER FAULT"
        click.echo(f"{row['id']} ({row['name']}): {state}, {reader}")
        for bay in row["bays"]:
            lock = {True: "locked", False: "UNLOCKED", None: "unknown"}[bay["locked"]]
            click.echo(f"  bay {bay['bay']}: {lock}, door {bay['door']}")


# --- override -------------------------------------------------------------------------


@command(cli, "override")
@click.option("--reason", required=True, type=TEXT, help="Why (recorded in the audit log).")
@click.option("--by", "actor", required=True, type=TEXT, help="Who is doing this.")
@click.option("--locker", "locker_id", type=TEXT, help="Locker id (default: every locker).")
@click.option("--bay", type=click.IntRange(1, 999), help="Bay number (default: every bay).")
@click.option("--seconds", default=10.0, show_default=True, type=FiniteFloatRange(1, 600),
              help="How long to hold the lock open.")
@click.option("--wait", default=5.0, show_default=True, type=FiniteFloatRange(0, 60),
              help="Seconds to wait for the kiosk to confirm.")
@click.option("--all", "open_every_bay", is_flag=True,
              help="Evacuation: every bay of every locker; lists whose phones were inside.")
@pass_ctx
def override(ctx: Context, reason: str, actor: str, locker_id: str | None, bay: int | None,
             seconds: float, wait: float, open_every_bay: bool) -> None:
    """Emergency unlock, carried out by the running kiosk and audited."""
    from kiosk.school.commands import kiosk_online, queue_unlock, wait_for

    if not reason.strip() or not actor.strip():
        raise ActionError("--reason and --by must not be empty")
    if open_every_bay and (locker_id is not None or bay is not None):
        raise click.UsageError("--all opens every bay of every locker: leave out --locker/--bay")
    from kiosk.inputs import check_bay
    from kiosk.school.pupils import known_bays

    database = ctx.database()
    max_age = ctx.config.web.offline_after_seconds
    held: list[dict] = []
    with database.session() as session:
        check_bay(bay, known_bays(session, ctx.config), what="--bay")
        if not kiosk_online(session, locker_id, max_age=max_age, now=ctx.now):
            raise ActionError("kiosk offline: no fresh heartbeat. Use the locker's key.")
        if open_every_bay:
            from kiosk.calendar.evacuation import held_list, open_all

            opened = open_all(session, actor=actor, reason=reason, seconds=seconds,
                              now=ctx.now)
            commands, held = opened.commands, held_list(session, opened.event)
        else:
            commands = queue_unlock(
                session, actor=actor, reason=reason, locker_id=locker_id, bay=bay,
                seconds=seconds, now=ctx.now,
            )
        if not commands:
            raise ActionError("no lockers are registered yet")
        session.commit()
        ids = [c.id for c in commands]
    results = wait_for(database, ids, wait)
    if open_every_bay:
        click.echo(f"phones in the lockers when opened ({len(held)}): hand back to")
        for row in held:
            click.echo(f"  {row['locker_name']}, bay {row['bay']}: {row['name']}"
                       + (f" ({row['class']})" if row["class"] else ""))
    failed = False
    for command_row in results:
        if command_row.status == "done":
            click.echo(f"done: {command_row.result}")
        elif command_row.status in ("pending", "running"):
            failed = True
            click.echo(f"{command_row.locker_id}: kiosk offline (not carried out in {wait:g} s)",
                       err=True)
        else:
            failed = True
            click.echo(f"{command_row.locker_id}: {command_row.status}: {command_row.result}",
                       err=True)
    if failed:
        sys.exit(1)


# --- bench / demo -------------------------------------------------------------------


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
@click.option("--rows", multiple=True, type=click.IntRange(10, 1_000_000), default=(2000, 50000),
              show_default=True, help="File size(s) to import; repeat for several.")
@click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--json", "as_json", is_flag=True)
def bench_import(rows: tuple[int, ...], runs: int, as_json: bool) -> None:
    """Time a pupil import's phases and the write lock it holds, on a scratch database."""
    from kiosk.devtools.bench_import import run_import_benchmarks

    run_import_benchmarks(rows, runs=runs, as_json=as_json, echo=click.echo)


@command(cli, "demo")
@click.option("--host", help="Dashboard address (default 127.0.0.1, or [web] host with --config).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Dashboard port (default 8080, or [web] port with --config).")
@click.option("--data-dir", default="var/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--fresh", is_flag=True, help="Start from an empty demo database.")
@pass_ctx
def demo(ctx: Context, host: str | None, port: int | None, data_dir: str, fresh: bool) -> None:
    """Run a demo school on emulated hardware: kiosk (and dashboard) in one command."""
    from kiosk.devtools.demo import run_demo

    _setup_logging(ctx.debug)
    run_demo(data_dir=Path(data_dir), host=host, port=port, fresh=fresh,
             config_path=ctx.config_path)


@command(cli, "doctor")
@pass_ctx
def doctor(ctx: Context) -> None:
    """Check config, database, reader, GPIO, clock, disk and services."""
    from kiosk.care.doctor import run_checks

    checks = run_checks(ctx.config_path)
    for check in checks:
        click.echo(check.line())
    failed = [check.name for check in checks if check.ok is False]
    if failed:
        click.echo(f"{len(failed)} problem(s): {', '.join(failed)}", err=True)
        sys.exit(1)


@command(cli, "hw-test")
@click.option("--pulse", default=1.0, show_default=True, type=FiniteFloatRange(0.05, 10),
              help="Seconds each lock, LED and the buzzer stays on.")
@click.option("--card-seconds", default=15.0, show_default=True, type=FiniteFloatRange(0, 300),
              help="Seconds to wait for a card (0: skip the reader).")
@pass_ctx
def hw_test(ctx: Context, pulse: float, card_seconds: float) -> None:
    """Pulse each lock, LED and the buzzer in turn, then wait for a card."""
    from hardware.errors import HardwareError
    from kiosk.locker.hwtest import run_hw_test
    from kiosk.school.commands import kiosk_online

    config = ctx.config
    database = ctx.database(check=False)
    try:
        with database.session() as session:
            running = kiosk_online(session, config.locker.id,
                                   max_age=config.web.offline_after_seconds, now=ctx.now)
    except Exception:  # noqa: BLE001 - no database yet is fine for a wiring test
        running = False
    if running:
        raise ActionError("the kiosk is running and holds the pins and reader: "
                          "stop it first (systemctl stop phonelocker-kiosk)")
    try:
        uid = run_hw_test(config, echo=click.echo, pulse_seconds=pulse,
                          card_seconds=card_seconds)
    except HardwareError as error:
        raise ActionError(str(error)) from error
    if card_seconds > 0 and uid is None:
        sys.exit(1)


def _attach_ops_commands() -> None:
    from kiosk.cli.care import register

    register(cli, command)


_attach_ops_commands()


def _attach_pupils_commands() -> None:
    from kiosk.cli.pupils import register

    register(cli, command)


_attach_pupils_commands()
from kiosk.notify.cli import register as register_notify  # noqa: E402 - after cli exists

register_notify(cli, command)


def _attach_registers_commands() -> None:
    from kiosk.registers.cli import register

    register(cli, command)


_attach_registers_commands()


def _attach_calendar_commands() -> None:
    from kiosk.calendar.cli import register

    register(cli, command)


_attach_calendar_commands()


def _attach_web_commands(group: click.Group) -> None:
    import importlib.util

    if importlib.util.find_spec("web") is None:  # the dashboard is not installed
        return
    from web.cli import register

    register(group, command)


def main() -> None:  # pragma: no cover - console script shim
    cli()


if __name__ == "__main__":  # pragma: no cover
    cli()
