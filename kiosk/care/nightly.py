"""The nightly job's backup half: where the nightly backup goes, and its rotation.

``phonelocker maintenance`` (:mod:`kiosk.cli.care`) purges first, then calls
:func:`nightly_folder` and :func:`nightly_backup`, then rotates with
:func:`kiosk.care.backup.prune_nightly_backups`; a failed purge does not stop the backup.
"""

from __future__ import annotations

from pathlib import Path

from kiosk.care.backup import NIGHTLY_PREFIX, backup_database, default_backup_name
from kiosk.care.sqlite_files import DatabaseFacts, is_sqlite_url, sqlite_path
from kiosk.errors import ActionError


def nightly_folder(url: str, backup_dir: Path | None) -> Path | None:
    """The folder for nightly backups (made 0700 if missing); None if not SQLite.

    Default: ``backups`` beside the database. PostgreSQL is backed up with its own
    tool on the database server, so there is no folder for it.
    """
    if not is_sqlite_url(url):
        return None
    folder = backup_dir or sqlite_path(url).parent / "backups"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ActionError(f"cannot make {folder}: {error.strerror}") from None
    return folder


def nightly_backup(url: str, folder: Path) -> DatabaseFacts:
    """Back up the SQLite database at ``url`` as ``phonelocker-nightly-<UTC time>.db``."""
    return backup_database(sqlite_path(url), folder / default_backup_name(prefix=NIGHTLY_PREFIX))


def first_line(error: BaseException) -> str:
    """An error as one short line for the job's log (its type when it has no text)."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__
