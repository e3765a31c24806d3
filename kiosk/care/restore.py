"""Restore: the checks before the database is replaced, and the replacement.

``phonelocker restore`` (:mod:`kiosk.cli.care`) shows the :class:`RestorePlan`,
asks, then calls :func:`carry_out`. The file work itself is
:func:`restore_database`, with the copies of :mod:`kiosk.care.sqlite_files`.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kiosk.care.sqlite_files import (
    DatabaseFacts,
    copy_database,
    fsync,
    inspect_sqlite,
    is_sqlite_file,
    sqlite_path,
    standalone_copy,
)
from kiosk.config import Config
from kiosk.errors import ActionError, MaintenanceError
from kiosk.school.heartbeats import fresh_heartbeat
from kiosk.store.db import Database, head_revision
from kiosk.store.models import KioskStatus
from kiosk.timeutil import naive_utc


@dataclass(frozen=True)
class RunningKiosk:
    locker_id: str
    updated_at: datetime


def running_kiosks(
    session: Session, *, max_age: float, now: datetime | None = None
) -> list[RunningKiosk]:
    """Kiosks whose heartbeat is fresh (within ``max_age`` seconds) and not marked stopped.

    This is the only check: a kiosk hung for longer than ``max_age``, or the
    dashboard (which writes no heartbeat), is not detected.
    """
    now = naive_utc(now)
    rows = session.execute(
        select(KioskStatus.locker_id, KioskStatus.updated_at).where(
            fresh_heartbeat(now, max_age)
        )
    ).all()
    return [RunningKiosk(locker_id, updated_at) for locker_id, updated_at in rows]


def check_restore_source(source: Path, known_revisions: set[str]) -> DatabaseFacts:
    """Refuse anything but a sound Phone Locker SQLite database at a revision this code knows."""
    facts = inspect_sqlite(source)
    if not facts.ok:
        problems = "; ".join(facts.integrity[:5])
        raise MaintenanceError(f"{source} failed its integrity check: {problems}")
    if facts.revision is None:
        raise MaintenanceError(
            f"{source} has no alembic_version: it is not a Phone Locker database (or is empty)"
        )
    if facts.revision not in known_revisions:
        raise MaintenanceError(
            f"{source} is at schema revision {facts.revision}, which this version of Phone "
            "Locker does not know (a backup from newer software?)"
        )
    return facts


def known_revisions() -> set[str]:
    """Every schema revision this version of Phone Locker ships (a restore may need upgrading)."""
    from alembic.script import ScriptDirectory

    from kiosk.store.db import MIGRATIONS

    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def before_restore_path(target: Path, now: datetime | None = None) -> Path:
    stamp = f"{naive_utc(now):%Y%m%dT%H%M%SZ}"
    path = target.with_name(f"{target.name}.before-restore-{stamp}")
    counter = 1
    while path.exists():
        counter += 1
        path = target.with_name(f"{target.name}.before-restore-{stamp}-{counter}")
    return path


@dataclass(frozen=True)
class RestoreResult:
    restored: DatabaseFacts
    kept: Path | None


def restore_database(
    source: Path, target: Path, *, known_revisions: set[str], now: datetime | None = None
) -> RestoreResult:
    """Replace the contents of ``target`` with ``source`` (already checked by the caller too).

    The current database is first kept beside it as ``NAME.before-restore-STAMP``
    (a backup-API copy); then ``source`` is copied in with the backup API, which
    takes the database's write lock, so no connection sees a half-restored file.
    The caller must have checked that no kiosk is running.
    """
    check_restore_source(source, known_revisions)
    if target.exists() and source.resolve() == target.resolve():
        raise MaintenanceError("the backup is the live database itself")
    kept = None
    if target.exists():
        if not is_sqlite_file(target) and target.stat().st_size > 0:
            raise MaintenanceError(
                f"{target} is not an SQLite database: move it away by hand and restore again"
            )
        kept = before_restore_path(target, now)
        try:
            standalone_copy(target, kept)
        except sqlite3.Error as error:
            raise MaintenanceError(
                f"could not keep a copy of the current database ({error}); nothing restored. "
                f"If it is damaged, stop everything, move {target} away by hand and restore again."
            ) from None
        os.chmod(kept, 0o600)
        fsync(kept)
    else:
        if not target.parent.is_dir():
            raise MaintenanceError(f"{target.parent}: no such folder")
    try:
        copy_database(source, target, create=True)
    except sqlite3.Error as error:
        hint = f" The previous database is kept at {kept}." if kept else ""
        raise MaintenanceError(f"restore failed: {error}.{hint}") from None
    restored = inspect_sqlite(target)
    if not restored.ok:
        hint = f" The previous database is kept at {kept}." if kept else ""
        raise MaintenanceError(
            f"the restored database failed its integrity check: {restored.integrity[:5]}.{hint}"
        )
    return RestoreResult(restored=restored, kept=kept)


# --- planning and carrying out -----------------------------------------------


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
