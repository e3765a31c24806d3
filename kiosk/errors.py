"""The errors a person can act on, shared by every layer.

Each carries a message written for the person who asked (office staff, the IT
technician); the CLI prints it on one line and exits 1, the dashboard flashes it.
:class:`kiosk.config_values.ConfigError` (exit 2), :class:`kiosk.inputs.InputError` (a
malformed value) and :class:`kiosk.store.db.DatabaseError` live beside what raises them.
"""

from __future__ import annotations


class ActionError(Exception):
    """A staff action cannot be done; the message says why, for the user."""


class MaintenanceError(ActionError):
    """A maintenance task cannot be done; the message says why (CLI exit code 1)."""
