"""``phonelocker``'s click group and the context every command module shares.

Every command takes ``--config`` (or ``PHONELOCKER_CONFIG``) and ``--help``.
Exit codes: 0 success, 1 the action failed (the message says why), 2 bad
usage or a bad config file. Every error is one line on standard error; an
error nobody foresaw is one line too ("unexpected error"), with the traceback
only under ``--debug``.

This module holds the shared API only: the group (:data:`cli`), :class:`Context`,
:data:`pass_ctx`, the :func:`command` decorator, :func:`friendly_errors`,
:func:`emit_json`, :func:`actor`, :func:`setup_logging` and the click parameter
types. It imports no command module: :mod:`kiosk.cli.main` attaches them, and
the dashboard's commands arrive lazily through :meth:`PhoneLockerGroup.attach_lazily`.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property, wraps
from json.encoder import encode_basestring
from typing import Any

import click

from kiosk.config import ENV_VAR, Config, load_config
from kiosk.config_values import ConfigError
from kiosk.errors import ActionError
from kiosk.inputs import MAX_DB_ID, InputError, check_text
from kiosk.store.db import Database, DatabaseError

log = logging.getLogger(__name__)


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
    """Print ``phonelocker: MESSAGE`` (one line) on standard error and exit ``code``."""
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


def emit_json(data: object) -> None:
    """Print ``data`` as indented JSON (non-ASCII kept as is): every ``--json`` output."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _flat_json(item) -> str | None:
    """``json.dumps(item, indent=2)`` for a dict of str/int/bool/None values, written out
    directly (the json module's C encoder is not used when indenting); None otherwise."""
    if not isinstance(item, dict):
        return None
    lines = []
    for key, value in item.items():
        if value is None:
            text = "null"
        elif value is True or value is False:
            text = "true" if value else "false"
        elif type(value) is int:
            text = str(value)
        elif type(value) is str:
            text = encode_basestring(value)
        else:
            return None
        lines.append(f"    {encode_basestring(str(key))}: {text}")
    return "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"


def emit_json_list(items) -> None:
    """Print an iterable as :func:`emit_json` prints a list, item by item as they come
    (constant memory: a long list of dicts)."""
    parts: list[str] = []
    size = 0
    for item in items:
        text = _flat_json(item)
        if text is None:
            text = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        parts.append(("[\n  " if not parts and not size else ",\n  ") + text)
        size += len(parts[-1])
        if size >= 65536:  # write in pieces of about 64 KB
            click.echo("".join(parts), nl=False)
            parts, size = [], 1
    if not parts and not size:
        click.echo("[]")
        return
    click.echo("".join(parts) + "\n]")


def emit_json_batches(batches, encode: Callable[[Any], str]) -> None:
    """Print the items of ``batches`` (lists of items, e.g. a result's partitions) as
    :func:`emit_json` prints one list of them, a batch at a time (constant memory:
    ``phonelocker events --json`` over a year of events). ``encode`` writes one item as
    :func:`emit_json` does inside a list (its lines indented by two more spaces)."""
    first = True
    for batch in batches:
        if not batch:
            continue
        click.echo(("[\n  " if first else ",\n  ") + ",\n  ".join(map(encode, batch)), nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def actor(by: str | None) -> str:
    """Who did it: --by, else the person behind sudo, else the system user."""
    import getpass
    import os

    if by is not None:
        try:
            check_text(by, "--by")
        except InputError as error:
            raise ActionError(str(error)) from None
    return by or f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def setup_logging(debug: bool) -> None:
    """Log to standard error for the long-running commands (kiosk, web, demo)."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug:
        # nfcpy sets its own logger to INFO whenever it is first imported (perhaps
        # after this), and it and Alembic chat at INFO: a filter on the handlers
        # quiets them whenever they load, without importing nfcpy here.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_libraries)


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Keep nfcpy's and Alembic's records from WARNING up (``--debug`` keeps all)."""
    return record.levelno >= logging.WARNING or not record.name.startswith(QUIET_LOGGERS)


#: libraries whose INFO records are noise in a kiosk's journal
QUIET_LOGGERS = ("nfc", "alembic")

class PhoneLockerGroup(click.Group):
    """A group whose plugin commands are attached only when they may be needed.

    :mod:`kiosk.cli.main` hands it a loader (the ``phonelocker.commands`` entry
    points: the dashboard's ``web``, ``users``, ``demo``); the loader runs the first
    time a name is not found or the commands are listed (``--help``). Importing
    Flask costs a third of a second; ``phonelocker status`` and the kiosk have no
    use for it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lazy_loaders: list[Callable[[click.Group], None]] = []

    def attach_lazily(self, loader: Callable[[click.Group], None]) -> None:
        """Run ``loader(self)`` (once) before a command is looked up in vain or listed."""
        self._lazy_loaders.append(loader)

    def _attach(self) -> None:
        while self._lazy_loaders:
            self._lazy_loaders.pop(0)(self)

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


def config_option(function: Callable) -> Callable:
    """Let a subcommand take --config after its name too ("phonelocker status --config X")."""

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


def command(group: click.Group, *args, **kwargs) -> Callable[[Callable], click.Command]:
    """Declare a subcommand of ``group`` with --config and friendly errors.

    Command modules receive it as ``register(cli, command)``'s second argument.
    """

    def decorate(function: Callable) -> click.Command:
        return group.command(*args, **kwargs)(config_option(friendly_errors(function)))

    return decorate

