"""The kiosk's status file: the true state when the database cannot be written.

When the disk is full (or the database is read-only, or its disk fails) the
kiosk refuses every tap (record before open) and cannot write its heartbeat
either, so the dashboard would say "offline" and show the last recorded,
possibly *unlocked*, bay. The kiosk then writes this small JSON file in its
runtime directory (systemd ``RuntimeDirectory=phonelocker``: ``/run`` is a
RAM disk, so it can be written when the data disk cannot) and keeps it fresh
while the fault lasts; the dashboard's lockers panel and ``/screen`` read it.

The file (``status.json``)::

    {"locker_id": "locker-1", "written_at": "2026-12-01T15:20:00+00:00",
     "ok": false, "problem": "cannot record taps: disk full",
     "detail": "OperationalError: database or disk is full",
     "since": "2026-12-01T15:19:42+00:00", "reader_ok": true,
     "bays": [{"bay": 1, "locked": true, "door": "closed"}], "leds": {...}}

Once writes work again it is rewritten once with ``"ok": true`` and
``"problem": null``. A file older than the web's ``offline_after_seconds`` is
ignored (the kiosk is not running), as is one for another locker.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from kiosk.config import Config
from kiosk.store.db import sqlite_file

FILE_NAME = "status.json"
#: systemd's RuntimeDirectory=phonelocker, readable by group phonelocker (the web user)
SYSTEM_RUNTIME_DIRECTORY = Path("/run/phonelocker")
FILE_MODE = 0o640

DISK_FULL = "cannot record taps: disk full"
DISK_ERROR = "cannot record taps: disk I/O error"
READ_ONLY = "cannot record taps: database is read-only"
UNAVAILABLE = "cannot record taps: database unavailable"


def status_path(config: Config, environ: os._Environ | dict | None = None) -> Path:
    """Where the kiosk writes (and the dashboard reads) the status file.

    ``[locker] status_file`` if set; else ``$RUNTIME_DIRECTORY`` (the kiosk
    under systemd) or ``/run/phonelocker`` when it exists (the dashboard on an
    installed Pi); else beside a SQLite database file (development and tests:
    each database gets its own), else the temporary directory.
    """
    environ = os.environ if environ is None else environ
    if config.locker.status_file:
        return Path(config.locker.status_file).expanduser()
    runtime = environ.get("RUNTIME_DIRECTORY")
    if runtime:
        return Path(runtime.split(":")[0]) / FILE_NAME
    if SYSTEM_RUNTIME_DIRECTORY.is_dir():
        return SYSTEM_RUNTIME_DIRECTORY / FILE_NAME
    database = sqlite_file(config.database.url)
    if database is not None:
        return database.with_name(f"{database.name}.{FILE_NAME}")
    return Path(tempfile.gettempdir()) / f"phonelocker-{config.locker.id}.{FILE_NAME}"


#: an I/O error with less free space than this on the database's disk is a full disk
FULL_BELOW_BYTES = 1024 * 1024


def write_problem(error: BaseException, free_bytes: int | None = None) -> str | None:
    """What a failed database write means for staff, or None if it is not a write fault.

    SQLite says "database or disk is full" (SQLITE_FULL, its write() got
    ENOSPC), "disk I/O error" (SQLITE_IOERR: any other failed write, fsync or
    truncate; with ``free_bytes`` under :data:`FULL_BELOW_BYTES` that is a
    full disk too) or "attempt to write a readonly database" (SQLITE_READONLY);
    any other operational error (e.g. PostgreSQL unreachable) is "unavailable".
    A bug (TypeError, ...) is not a write fault.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return DISK_FULL
        if isinstance(cause, OperationalError | sqlite3.OperationalError):
            text = str(getattr(cause, "orig", None) or cause).lower()
            if "full" in text:
                return DISK_FULL
            if "i/o error" in text:
                full = free_bytes is not None and free_bytes < FULL_BELOW_BYTES
                return DISK_FULL if full else DISK_ERROR
            if "readonly" in text or "read-only" in text:
                return READ_ONLY
            return UNAVAILABLE
        cause = cause.__cause__ or cause.__context__
    return None


def free_bytes(config: Config) -> int | None:
    """Free space on a SQLite database's file system (None for a server database)."""
    url = make_url(config.database.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    try:
        return shutil.disk_usage(Path(url.database).expanduser().resolve().parent).free
    except OSError:
        return None


def write_status(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file)
        # the kiosk's UMask is 0077; the dashboard (group phonelocker) must read it
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file's document, or None when it is missing or unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def current_fault(
    config: Config, locker_id: str, now: datetime, path: Path | None = None
) -> dict[str, Any] | None:
    """The kiosk's fault for ``locker_id`` if its status file is fresh and says one."""
    document = read_status(path or status_path(config))
    if not document or document.get("ok") or document.get("locker_id") != locker_id:
        return None
    try:
        written = datetime.fromisoformat(document["written_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if written.tzinfo is None or not document.get("problem"):
        return None
    max_age = timedelta(seconds=config.web.offline_after_seconds)
    if not now - max_age <= written <= now + max_age:
        return None
    return document


def with_faults(lockers: list[dict], config: Config, now: datetime) -> list[dict]:
    """Add ``problem`` to each locker of :func:`kiosk.school.queries.locker_states`.

    A locker whose kiosk reports a fault in its status file gets the problem
    and, when its heartbeat is stale, the file's reader and lock states instead
    of the last heartbeat's (which may show a bay unlocked that has since
    relocked).
    """
    for locker in lockers:
        fault = current_fault(config, locker["id"], now)
        locker["problem"] = fault["problem"] if fault else None
        if fault and not locker["online"]:
            locker["bays"] = fault.get("bays") or locker["bays"]
            locker["leds"] = fault.get("leds") or locker["leds"]
            locker["reader_ok"] = bool(fault.get("reader_ok"))
            locker["state_from"] = "status file"
        else:
            locker["state_from"] = "heartbeat"
    return lockers
