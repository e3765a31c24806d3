"""Backups of the SQLite database: checked, self-contained copies, and the nightly rotation.

Pure domain functions; the click commands are in :mod:`kiosk.cli.care`, the
restore is :mod:`kiosk.care.restore`, the file work :mod:`kiosk.care.sqlite_files`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path

from kiosk.care.sqlite_files import (
    DatabaseFacts,
    fsync,
    is_sqlite_file,
    remove_sidecars,
    standalone_copy,
)
from kiosk.errors import MaintenanceError
from kiosk.timeutil import naive_utc

#: the nightly job's own backups; only these are rotated, so copies made by hand stay
NIGHTLY_PREFIX = "phonelocker-nightly"
_NIGHTLY_NAME = re.compile(rf"{NIGHTLY_PREFIX}-\d{{8}}T\d{{6}}Z\.db")


def default_backup_name(now: datetime | None = None, prefix: str = "phonelocker") -> str:
    return f"{prefix}-{naive_utc(now):%Y%m%dT%H%M%SZ}.db"


def prune_nightly_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` nightly backups in ``folder``; return what went.

    Only files named like the nightly job's own (``phonelocker-nightly-…Z.db``)
    are counted or deleted: a backup made by hand in the same folder stays.
    """
    if keep < 1:
        raise MaintenanceError("keep at least one nightly backup")
    nightly = sorted(path for path in folder.iterdir() if _NIGHTLY_NAME.fullmatch(path.name))
    removed = nightly[:-keep]
    for path in removed:
        path.unlink()
    return removed


def backup_database(
    source: Path, dest: Path, *, force: bool = False, now: datetime | None = None
) -> DatabaseFacts:
    """Write a consistent, self-contained copy of the live database ``source`` to ``dest``.

    ``dest`` may be a directory (a timestamped file is made in it). The copy is
    written beside ``dest`` under a temporary name, switched to a rollback
    journal (one file, no ``-wal``), integrity-checked, flushed, and only then
    renamed into place, so ``dest`` is either absent or a checked backup.
    """
    if not source.is_file():
        raise MaintenanceError(f"no database at {source}")
    if not is_sqlite_file(source):
        raise MaintenanceError(f"{source} is not an SQLite database")
    if dest.is_dir():
        dest = dest / default_backup_name(now)
    if not dest.parent.is_dir():
        raise MaintenanceError(f"{dest.parent}: no such folder")
    if dest.resolve() == source.resolve():
        raise MaintenanceError("the backup cannot be written over the live database")
    if dest.exists() and not force:
        raise MaintenanceError(f"{dest} already exists (use --force to overwrite it)")

    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    remove_sidecars(partial)
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        facts = standalone_copy(source, partial, inspect=True)
    except sqlite3.Error as error:
        raise MaintenanceError(f"backup failed: {error}") from None
    if not facts.ok:
        problems = "; ".join(facts.integrity[:5])
        raise MaintenanceError(
            f"the copy failed its integrity check ({problems}); it is kept at {partial} "
            "for inspection. The live database may be damaged."
        )
    os.chmod(partial, 0o600)  # personal data: only the owner may read a backup
    fsync(partial)
    if force:
        remove_sidecars(dest)
    os.replace(partial, dest)
    fsync(dest.parent)
    return DatabaseFacts(**{**facts.__dict__, "path": dest, "size": dest.stat().st_size})
