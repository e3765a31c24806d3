"""Restore: the checks before the database is replaced, and the replacement.

``phonelocker restore`` (:mod:`kiosk.cli.care`) shows the :class:`RestorePlan`,
asks, then calls :func:`carry_out`. The file work itself is
:func:`kiosk.care.backup.restore_database`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from kiosk.care.backup import (
    DatabaseFacts,
    RestoreResult,
    check_restore_source,
    known_revisions,
    restore_database,
    running_kiosks,
    sqlite_path,
)
from kiosk.config import Config
from kiosk.errors import ActionError
from kiosk.store.db import Database, head_revision


@dataclass(frozen=True)
class RestorePlan:
    """A checked backup and where it would go; nothing has been changed yet."""

    source: Path
    target: Path
    facts: DatabaseFacts
    revisions: set[str]
    #: what the kiosk check found, for the confirmation text
    heartbeat_note: str


def plan_restore(config: Config, source: Path) -> RestorePlan:
    """Check ``source`` and that no kiosk is running; raise ActionError if one is.

    The heartbeat is the only check: a kiosk hung for longer than
    ``[web].offline_after_seconds``, or started meanwhile, is not detected.
    """
    target = sqlite_path(config.database.url)
    revisions = known_revisions()
    facts = check_restore_source(source, revisions)

    heartbeat_note = "no database there yet"
    if target.exists():
        database = Database(config.database.url)
        try:
            with database.session() as session:
                running = running_kiosks(session, max_age=config.web.offline_after_seconds)
            heartbeat_note = (
                "no fresh kiosk heartbeat (none in the last "
                f"{config.web.offline_after_seconds:g} s)"
            )
        except SQLAlchemyError as error:
            # a damaged live database is a reason to restore: say so, do not refuse
            running = []
            heartbeat_note = (
                f"could not read the kiosk heartbeat ({str(error).splitlines()[0]}): "
                "make sure the kiosk is stopped"
            )
        finally:
            database.dispose()
        if running:
            lockers = ", ".join(
                f"{k.locker_id} (heartbeat at {k.updated_at:%H:%M:%S} UTC)" for k in running
            )
            raise ActionError(
                f"the kiosk is running: {lockers}. Stop it first "
                "(sudo systemctl stop phonelocker-kiosk) and try again"
            )
    return RestorePlan(source, target, facts, revisions, heartbeat_note)


def carry_out(plan: RestorePlan) -> RestoreResult:
    """Replace the database with the planned backup (the old one is kept beside it)."""
    return restore_database(plan.source, plan.target, known_revisions=plan.revisions)


def needs_upgrade(result: RestoreResult) -> bool:
    """True when the restored database is at an older schema than this version's."""
    return result.restored.revision != head_revision()
