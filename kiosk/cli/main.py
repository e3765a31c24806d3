"""The ``phonelocker`` console script: the group from :mod:`kiosk.cli.base` with every command.

:data:`COMMAND_MODULES` is the one list of the kiosk's command modules; each has
``register(cli, command)``. A new command group (reports, registers, calendar…)
is one more line there. Commands from other distributions (the dashboard's ``web``,
``users`` and ``demo``) are declared as entry points in the
``phonelocker.commands`` group, ``name = "package.module:register"`` with the same
shape, and are loaded only when a command is not found among the kiosk's or the
commands are listed (``--help``): ``phonelocker status`` never imports Flask.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import click

from kiosk.cli import (
    calendar,
    care,
    db,
    dev,
    locker,
    notify,
    pupils,
    registers,
    reports,
    school,
    sync,
)
from kiosk.cli.base import cli, command

log = logging.getLogger(__name__)

#: the entry-point group other packages declare their commands in
PLUGIN_GROUP = "phonelocker.commands"

COMMAND_MODULES = (
    db,
    locker,
    school,
    pupils,
    care,
    dev,
    notify,
    registers,
    calendar,
    reports,
    sync,
)


def load_plugins(group: click.Group) -> None:
    """Attach every ``phonelocker.commands`` entry point's commands to ``group``."""
    for entry_point in entry_points(group=PLUGIN_GROUP):
        try:
            register = entry_point.load()
        except ModuleNotFoundError as error:
            # declared, but that package is not installed here (a kiosk without the
            # dashboard); a dependency missing *inside* it is a real error
            if error.name is None or not entry_point.module.startswith(error.name):
                raise
            log.debug("phonelocker commands %s not installed", entry_point.value)
            continue
        register(group, command)


for _module in COMMAND_MODULES:
    _module.register(cli, command)
cli.attach_lazily(load_plugins)

__all__ = ["cli"]

if __name__ == "__main__":  # pragma: no cover - python -m kiosk.cli.main
    cli()
