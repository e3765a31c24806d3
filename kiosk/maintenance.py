"""Looking after the data: backup, restore, retention purge, subject access, rollover.

Pure domain functions; the click commands are in :mod:`kiosk.cli_ops`.

Backup and restore use SQLite's online backup API (``sqlite3.Connection.backup``),
never a file copy: a copy of a WAL database taken while the kiosk writes can
miss the ``-wal`` file or catch a page half-written, and the backup API reads
one consistent snapshot however many taps arrive meanwhile. PostgreSQL has
``pg_dump`` for that.

Database writes follow the project's rule for this pysqlite setup (no
``begin_nested``): everything is checked first, then written, then committed
once, so a refusal leaves nothing behind.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kiosk.config import Config
from kiosk.events import Kind, record_event
from kiosk.models import (
    Card,
    Command,
    EarlyRelease,
    Event,
    Holding,
    KioskStatus,
    Pupil,
    Year5Approval,
    utcnow,
)
from kiosk.pupils import ActionError

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 10.0
#: finished commands (done, failed, expired) older than this are deleted by the purge
COMMANDS_KEEP_DAYS = 30
FINISHED_COMMANDS = ("done", "failed", "expired")
#: pupils in this year (or above) leave at the rollover; everyone else moves up one year
LEAVING_YEAR = 6
#: a second rollover within this many days is refused without --force
ROLLOVER_REPEAT_DAYS = 180


class MaintenanceError(ActionError):
    """A maintenance task cannot be done; the message says why (CLI exit code 1)."""


# --- helpers ----------------------------------------------------------------------


def subtract_months(moment: datetime, months: int) -> datetime:
    """``moment`` minus calendar ``months``; the day is clamped (31 March - 1 = 28/29 Feb)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def naive_utc(moment: datetime | None) -> datetime:
    """Any datetime (aware, or naive UTC) as naive UTC; None is now."""
    if moment is None:
        return utcnow()
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def iso_local(moment: datetime | None, config: Config) -> str | None:
    """Stored naive UTC -> ISO 8601 in the school's zone with its offset."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(config.policy.zone).isoformat()


def sqlite_path(url: str) -> Path:
    """The file behind an SQLite URL; any other database is refused with a pointer."""
    try:
        parsed = make_url(url)
    except Exception as error:  # noqa: BLE001 - sqlalchemy raises several kinds
        raise MaintenanceError(f"cannot read the database URL: {error}") from None
    backend = parsed.get_backend_name()
    if backend != "sqlite":
        hint = "use pg_dump for PostgreSQL" if backend.startswith("postgres") else (
            "use your database's own backup tool"
        )
        raise MaintenanceError(
            f"only SQLite databases are supported here ({backend} configured): {hint}"
        )
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise MaintenanceError(f"the SQLite database {database or ':memory:'!r} is not a file")
    return Path(database).expanduser()


def _connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection that waits on locks; never creates a file unless asked."""
    mode = "rwc" if create else "rw"
    uri = f"file:{_uri_path(path)}?mode={mode}"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    return connection


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def _is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _fsync(path: Path) -> None:
    """Flush a file (or directory) to the disk; ignored where the OS cannot."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def integrity_check(connection: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check``: ``["ok"]`` for a sound database, else the problems."""
    return [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


@dataclass(frozen=True)
class DatabaseFacts:
    """What a look inside an SQLite file found."""

    path: Path
    size: int
    integrity: list[str]
    revision: str | None
    events: int | None
    max_event_id: int | None
    newest_event_at: str | None
    pupils: int | None

    @property
    def ok(self) -> bool:
        return self.integrity == ["ok"]


def inspect_sqlite(path: Path, connection: sqlite3.Connection | None = None) -> DatabaseFacts:
    """Integrity, migration revision and event counts of an SQLite database file."""
    own = connection is None
    if own:
        if not path.is_file():
            raise MaintenanceError(f"{path}: no such file")
        if not _is_sqlite_file(path):
            raise MaintenanceError(f"{path}: not an SQLite database")
        connection = _connect(path)
    try:
        try:
            integrity = integrity_check(connection)
            tables = _tables(connection)
        except sqlite3.DatabaseError as error:
            raise MaintenanceError(f"{path}: cannot read the database ({error})") from None
        revision = events = max_id = newest = pupils = None
        if "alembic_version" in tables:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        if "events" in tables:
            events, max_id, newest = connection.execute(
                "SELECT count(*), max(id), max(at) FROM events"
            ).fetchone()
        if "pupils" in tables:
            pupils = connection.execute("SELECT count(*) FROM pupils").fetchone()[0]
    finally:
        if own:
            connection.close()
    return DatabaseFacts(
        path=path,
        size=path.stat().st_size,
        integrity=integrity,
        revision=revision,
        events=events,
        max_event_id=max_id,
        newest_event_at=newest,
        pupils=pupils,
    )


def _copy_database(source: Path, target: Path, *, create: bool) -> None:
    """Copy ``source`` onto ``target`` with the online backup API (one consistent snapshot).

    ``pages=-1`` copies every page in a single step under one read transaction,
    so writers carrying on in WAL mode cannot make the copy restart or tear.
    """
    src = _connect(source)
    try:
        dst = _connect(target, create=create)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


def _remove_sidecars(path: Path) -> None:
    """Delete stale ``-wal``/``-shm``/``-journal`` files that would be replayed onto ``path``."""
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


# --- backup -----------------------------------------------------------------------


def default_backup_name(now: datetime | None = None) -> str:
    return f"phonelocker-{naive_utc(now):%Y%m%dT%H%M%SZ}.db"


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
    if not _is_sqlite_file(source):
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
    _remove_sidecars(partial)
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        _copy_database(source, partial, create=True)
        connection = _connect(partial)
        try:
            connection.execute("PRAGMA journal_mode=DELETE")
            facts = inspect_sqlite(partial, connection)
        finally:
            connection.close()
    except sqlite3.Error as error:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        _remove_sidecars(partial)
        raise MaintenanceError(f"backup failed: {error}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        _remove_sidecars(partial)
        raise
    if not facts.ok:
        problems = "; ".join(facts.integrity[:5])
        raise MaintenanceError(
            f"the copy failed its integrity check ({problems}); it is kept at {partial} "
            "for inspection. The live database may be damaged."
        )
    os.chmod(partial, 0o600)  # personal data: only the owner may read a backup
    _fsync(partial)
    if force:
        _remove_sidecars(dest)
    os.replace(partial, dest)
    _fsync(dest.parent)
    return DatabaseFacts(**{**facts.__dict__, "path": dest, "size": dest.stat().st_size})


# --- restore ----------------------------------------------------------------------


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
            KioskStatus.updated_at >= now - timedelta(seconds=max_age),
            KioskStatus.stopped_at.is_(None),
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

    from kiosk.db import MIGRATIONS

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
        if not _is_sqlite_file(target) and target.stat().st_size > 0:
            raise MaintenanceError(
                f"{target} is not an SQLite database: move it away by hand and restore again"
            )
        kept = before_restore_path(target, now)
        try:
            _copy_database(target, kept, create=True)
            connection = _connect(kept)
            try:
                connection.execute("PRAGMA journal_mode=DELETE")
            finally:
                connection.close()
        except sqlite3.Error as error:
            with contextlib.suppress(FileNotFoundError):
                kept.unlink()
            _remove_sidecars(kept)
            raise MaintenanceError(
                f"could not keep a copy of the current database ({error}); nothing restored. "
                f"If it is damaged, stop everything, move {target} away by hand and restore again."
            ) from None
        os.chmod(kept, 0o600)
        _fsync(kept)
    else:
        if not target.parent.is_dir():
            raise MaintenanceError(f"{target.parent}: no such folder")
    try:
        _copy_database(source, target, create=True)
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


# --- purge ------------------------------------------------------------------------


@dataclass
class PurgeResult:
    events_before: datetime
    leavers_before: datetime
    commands_before: datetime
    events: int = 0
    pupils: int = 0
    cards: int = 0
    approvals: int = 0
    early_releases: int = 0
    holdings: int = 0
    commands: int = 0
    scrubbed_events: int = 0
    #: leavers past retention kept because their phone is still recorded in a locker
    kept_with_phone: list[tuple[int, str, str, int]] = field(default_factory=list)
    #: inactive pupils with no leaving date (never purged: no date to count from)
    inactive_without_date: int = 0
    dry_run: bool = False
    event_id: int | None = None

    def counts(self) -> dict[str, int]:
        return {
            "events": self.events,
            "pupils": self.pupils,
            "cards": self.cards,
            "approvals": self.approvals,
            "early_releases": self.early_releases,
            "holdings": self.holdings,
            "commands": self.commands,
            "scrubbed_events": self.scrubbed_events,
        }


def _count(session: Session, statement) -> int:
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0


def purge(
    session: Session,
    *,
    events_months: int,
    leavers_months: int,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str | None = None,
) -> PurgeResult:
    """Remove what is past retention; the caller commits (or rolls back a dry run).

    * events with ``at`` strictly before ``now`` minus ``events_months`` calendar months;
    * pupils who left (``active`` false, ``left_at`` set) strictly before ``now`` minus
      ``leavers_months``: their cards, approvals, early releases and commands are
      deleted, their remaining events keep what happened but lose the pupil id, the
      card UID and any of their card UIDs quoted in the reason. A leaver whose phone
      is still recorded in a locker is kept (deleting would strand the phone);
    * finished commands whose ``finished_at`` (else ``created_at``) is more than
      30 days ago.

    ``dry_run`` only counts. Otherwise one :data:`Kind.PURGE` event records the
    counts (no names).
    """
    now = naive_utc(now)
    result = PurgeResult(
        events_before=subtract_months(now, events_months),
        leavers_before=subtract_months(now, leavers_months),
        commands_before=now - timedelta(days=COMMANDS_KEEP_DAYS),
        dry_run=dry_run,
    )
    old_events = select(Event.id).where(Event.at < result.events_before)
    result.events = _count(session, old_events)

    leaver_rows = session.execute(
        select(Pupil.id, Pupil.left_at).where(
            Pupil.active.is_(False),
            Pupil.left_at.is_not(None),
            Pupil.left_at < result.leavers_before,
        )
    ).all()
    holdings = {
        h.pupil_id: h
        for h in session.scalars(
            select(Holding).where(Holding.pupil_id.in_([row.id for row in leaver_rows]))
        )
    }
    leavers = []
    for pupil_id, _left in leaver_rows:
        holding = holdings.get(pupil_id)
        if holding is not None:
            result.kept_with_phone.append(
                (pupil_id, session.get(Pupil, pupil_id).name, holding.locker_id, holding.bay)
            )
        else:
            leavers.append(pupil_id)
    result.pupils = len(leavers)
    result.inactive_without_date = _count(
        session, select(Pupil.id).where(Pupil.active.is_(False), Pupil.left_at.is_(None))
    )
    result.cards = _count(session, select(Card.id).where(Card.pupil_id.in_(leavers)))
    result.approvals = _count(
        session, select(Year5Approval.id).where(Year5Approval.pupil_id.in_(leavers))
    )
    result.early_releases = _count(
        session, select(EarlyRelease.id).where(EarlyRelease.pupil_id.in_(leavers))
    )
    result.holdings = 0  # leavers with a holding are kept, see kept_with_phone
    their_events = select(Event.id).where(
        Event.pupil_id.in_(leavers), Event.at >= result.events_before
    )
    result.scrubbed_events = _count(session, their_events)
    old_commands = (Command.status.in_(FINISHED_COMMANDS)) & (
        func.coalesce(Command.finished_at, Command.created_at) < result.commands_before
    )
    commands_to_go = old_commands | Command.pupil_id.in_(leavers)
    result.commands = _count(session, select(Command.id).where(commands_to_go))

    if dry_run:
        return result

    if session.get_bind().dialect.name == "sqlite":
        # Overwrite deleted content instead of leaving it in free pages.
        session.execute(text("PRAGMA secure_delete=ON"))
    uids = sorted(set(session.scalars(select(Card.uid).where(Card.pupil_id.in_(leavers)))))
    session.execute(
        update(Holding).where(Holding.event_id.in_(old_events)).values(event_id=None)
    )
    session.execute(delete(Event).where(Event.at < result.events_before))
    if leavers:
        if uids:
            for event in session.scalars(
                select(Event).where(Event.pupil_id.in_(leavers), Event.reason.is_not(None))
            ):
                reason = event.reason
                for uid in uids:
                    reason = reason.replace(uid, "[card]")
                event.reason = reason
            session.flush()
        session.execute(
            update(Event)
            .where(Event.pupil_id.in_(leavers))
            .values(pupil_id=None, card_uid=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(Command).where(Command.pupil_id.in_(leavers)))
        session.execute(delete(Card).where(Card.pupil_id.in_(leavers)))
        session.execute(delete(Year5Approval).where(Year5Approval.pupil_id.in_(leavers)))
        session.execute(delete(EarlyRelease).where(EarlyRelease.pupil_id.in_(leavers)))
        session.execute(delete(Pupil).where(Pupil.id.in_(leavers)))
    session.execute(delete(Command).where(old_commands))
    counts = " ".join(f"{key}={value}" for key, value in result.counts().items())
    event = record_event(
        session,
        Kind.PURGE,
        at=now,
        actor=actor,
        reason=(
            f"{counts}; events before {result.events_before:%Y-%m-%d %H:%M}, "
            f"leavers who left before {result.leavers_before:%Y-%m-%d %H:%M} (UTC)"
            + (f"; {len(result.kept_with_phone)} leaver(s) kept: phone in a locker"
               if result.kept_with_phone else "")
        ),
    )
    result.event_id = event.id
    session.expire_all()
    return result


def checkpoint(session: Session) -> bool:
    """Best effort: fold the WAL into the database file and truncate it (SQLite only)."""
    if session.get_bind().dialect.name != "sqlite":
        return True
    row = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
    return row is not None and row[0] == 0


# --- subject access export --------------------------------------------------------


def export_pupil(session: Session, pupil_id: int, config: Config) -> dict:
    """Everything held about one pupil, for a subject access request.

    Events are those recorded against the pupil, plus taps of one of their card
    UIDs that were recorded against no pupil (an unknown-card tap before the
    card was enrolled). Times are ISO 8601 in the school's zone with the offset.
    """
    pupil = session.get(Pupil, pupil_id)
    if pupil is None:
        raise MaintenanceError(f"no pupil with id {pupil_id}")

    def when(moment):
        return iso_local(moment, config)

    def day(value: date | None):
        return value.isoformat() if value else None

    cards = session.scalars(
        select(Card).where(Card.pupil_id == pupil_id).order_by(Card.issued_at, Card.id)
    ).all()
    uids = sorted({card.uid for card in cards})
    approvals = session.scalars(
        select(Year5Approval)
        .where(Year5Approval.pupil_id == pupil_id)
        .order_by(Year5Approval.approved_at, Year5Approval.id)
    ).all()
    releases = session.scalars(
        select(EarlyRelease)
        .where(EarlyRelease.pupil_id == pupil_id)
        .order_by(EarlyRelease.on_date, EarlyRelease.id)
    ).all()
    holding = session.get(Holding, pupil_id)
    events = session.scalars(
        select(Event)
        .where(
            (Event.pupil_id == pupil_id)
            | (Event.pupil_id.is_(None) & Event.card_uid.in_(uids))
        )
        .order_by(Event.at, Event.id)
    ).all()
    commands = session.scalars(
        select(Command).where(Command.pupil_id == pupil_id).order_by(Command.id)
    ).all()
    last_taps = session.scalars(
        select(KioskStatus).where(KioskStatus.last_tap_uid.in_(uids))
    ).all()
    return {
        "exported_at": when(utcnow()),
        "time_zone": config.policy.timezone,
        "pupil": {
            "id": pupil.id,
            "external_id": pupil.external_id,
            "name": pupil.name,
            "year": pupil.year,
            "class": pupil.class_name,
            "active": pupil.active,
            "locker_id": pupil.locker_id,
            "bay": pupil.bay,
            "created_at": when(pupil.created_at),
            "left_at": when(pupil.left_at),
        },
        "cards": [
            {
                "id": card.id,
                "uid": card.uid,
                "active": card.active,
                "issued_at": when(card.issued_at),
                "revoked_at": when(card.revoked_at),
            }
            for card in cards
        ],
        "year5_approvals": [
            {
                "id": a.id,
                "approved_by": a.approved_by,
                "approved_at": when(a.approved_at),
                "until": day(a.until),
                "revoked_at": when(a.revoked_at),
                "revoked_by": a.revoked_by,
            }
            for a in approvals
        ],
        "early_releases": [
            {
                "id": r.id,
                "on_date": day(r.on_date),
                "by": r.by,
                "reason": r.reason,
                "created_at": when(r.created_at),
            }
            for r in releases
        ],
        "holdings": [
            {
                "locker_id": holding.locker_id,
                "bay": holding.bay,
                "since": when(holding.since),
                "event_id": holding.event_id,
            }
        ]
        if holding
        else [],
        "events": [
            {
                "id": e.id,
                "at": when(e.at),
                "kind": e.kind,
                "pupil_id": e.pupil_id,
                "card_uid": e.card_uid,
                "locker_id": e.locker_id,
                "bay": e.bay,
                "actor": e.actor,
                "reason": e.reason,
                "clock_suspect": e.clock_suspect,
            }
            for e in events
        ],
        "commands": [
            {
                "id": c.id,
                "kind": c.kind,
                "locker_id": c.locker_id,
                "actor": c.actor,
                "status": c.status,
                "result": c.result,
                "card_uid": c.card_uid,
                "created_at": when(c.created_at),
                "finished_at": when(c.finished_at),
            }
            for c in commands
        ],
        "kiosk_last_tap": [
            {"locker_id": s.locker_id, "uid": s.last_tap_uid, "at": when(s.last_tap_at),
             "result": s.last_tap_result}
            for s in last_taps
        ],
    }


# --- rollover ---------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    pupil_id: int
    name: str
    class_name: str
    year_from: int
    year_to: int | None  # None: leaves


@dataclass
class RolloverPlan:
    at: datetime
    moves: list[Move] = field(default_factory=list)
    leavers: list[Move] = field(default_factory=list)
    cards_to_revoke: int = 0
    #: (approval id, pupil id, pupil name)
    approvals_to_end: list[tuple[int, int, str]] = field(default_factory=list)
    #: (pupil id, name, year, locker, bay, leaving)
    holdings: list[tuple[int, str, int, str, int, bool]] = field(default_factory=list)
    previous_rollover: datetime | None = None
    applied: bool = False
    event_id: int | None = None

    @property
    def year_counts(self) -> dict[str, int]:
        counts = Counter(f"{m.year_from}->{m.year_to}" for m in self.moves)
        return dict(sorted(counts.items(), key=lambda item: int(item[0].split("->")[0])))

    def blockers(self) -> list[str]:
        problems = []
        if self.holdings:
            listed = ", ".join(
                f"{pid} {name} (Year {year}, {locker} bay {bay}"
                f"{', leaving' if leaving else ''})"
                for pid, name, year, locker, bay, leaving in self.holdings
            )
            problems.append(
                f"{len(self.holdings)} phone(s) still in a locker: {listed}. Return them "
                "(collect, or the office's return) first: archiving a leaver would strand "
                "the phone"
            )
        if self.previous_rollover is not None:
            problems.append(
                f"a rollover was already done on {self.previous_rollover:%Y-%m-%d}: running "
                "it again would move everyone up another year"
            )
        return problems


def plan_rollover(session: Session, *, now: datetime | None = None, today: date | None = None
                  ) -> RolloverPlan:
    """What a new-school-year rollover would change; writes nothing.

    Every active pupil moves up one year, except those in Year 6 (or above),
    who leave. Year 5 approvals still in force (not revoked, ``until`` not
    passed) are ended. Classes are left alone.
    """
    now = naive_utc(now)
    today = today or now.date()
    plan = RolloverPlan(at=now)
    pupils = session.scalars(
        select(Pupil).where(Pupil.active.is_(True)).order_by(Pupil.year, Pupil.class_name,
                                                              Pupil.name, Pupil.id)
    ).all()
    for pupil in pupils:
        if pupil.year >= LEAVING_YEAR:
            plan.leavers.append(Move(pupil.id, pupil.name, pupil.class_name, pupil.year, None))
        else:
            plan.moves.append(
                Move(pupil.id, pupil.name, pupil.class_name, pupil.year, pupil.year + 1)
            )
    leaving = {m.pupil_id for m in plan.leavers}
    plan.cards_to_revoke = _count(
        session, select(Card.id).where(Card.pupil_id.in_(leaving), Card.active.is_(True))
    )
    rows = session.execute(
        select(Year5Approval.id, Pupil.id, Pupil.name)
        .join(Pupil, Pupil.id == Year5Approval.pupil_id)
        .where(
            Year5Approval.revoked_at.is_(None),
            Year5Approval.until.is_(None) | (Year5Approval.until >= today),
        )
        .order_by(Pupil.name, Year5Approval.id)
    ).all()
    plan.approvals_to_end = [tuple(row) for row in rows]
    held = session.execute(
        select(Pupil.id, Pupil.name, Pupil.year, Holding.locker_id, Holding.bay)
        .join(Holding, Holding.pupil_id == Pupil.id)
        .order_by(Pupil.name, Pupil.id)
    ).all()
    plan.holdings = [
        (pid, name, year, locker, bay, pid in leaving) for pid, name, year, locker, bay in held
    ]
    previous = session.scalar(
        select(func.max(Event.at)).where(
            Event.kind == Kind.ROLLOVER.value,
            Event.at >= now - timedelta(days=ROLLOVER_REPEAT_DAYS),
        )
    )
    plan.previous_rollover = previous
    return plan


def apply_rollover(
    session: Session, plan: RolloverPlan, *, actor: str, force: bool = False
) -> RolloverPlan:
    """Carry out ``plan`` (from :func:`plan_rollover` in this session); the caller commits.

    Refuses (before writing anything) while a blocker stands, unless ``force``.
    Each pupil's change is recorded (pupil_updated, card_revoked,
    approval_revoked) and one rollover event records the counts.
    """
    if not actor or not actor.strip():
        raise MaintenanceError("say who is doing the rollover (--by)")
    if not (plan.moves or plan.leavers or plan.approvals_to_end):
        raise MaintenanceError("nothing to roll over: there are no active pupils")
    blockers = plan.blockers()
    if blockers and not force:
        raise MaintenanceError("rollover refused: " + "; ".join(blockers) + " (--force to go on)")
    now = plan.at
    for move in plan.moves:
        pupil = session.get(Pupil, move.pupil_id)
        pupil.year = move.year_to
        record_event(
            session, Kind.PUPIL_UPDATED, at=now, pupil_id=pupil.id, actor=actor,
            reason=f"rollover: year {move.year_from} -> {move.year_to}",
        )
    for move in plan.leavers:
        pupil = session.get(Pupil, move.pupil_id)
        pupil.active = False
        pupil.left_at = now
        record_event(
            session, Kind.PUPIL_UPDATED, at=now, pupil_id=pupil.id, actor=actor,
            reason=f"rollover: left (Year {move.year_from})",
        )
        for card in pupil.cards:
            if card.active:
                card.active = False
                card.revoked_at = now
                record_event(
                    session, Kind.CARD_REVOKED, at=now, pupil_id=pupil.id, card_uid=card.uid,
                    actor=actor, reason="rollover: pupil left",
                )
    ended: dict[int, int] = {}
    for approval_id, pupil_id, _name in plan.approvals_to_end:
        approval = session.get(Year5Approval, approval_id)
        approval.revoked_at = now
        approval.revoked_by = actor
        ended[pupil_id] = ended.get(pupil_id, 0) + 1
    for pupil_id in ended:
        record_event(
            session, Kind.APPROVAL_REVOKED, at=now, pupil_id=pupil_id, actor=actor,
            reason="rollover: new school year",
        )
    moved = " ".join(f"{key}:{value}" for key, value in plan.year_counts.items())
    event = record_event(
        session,
        Kind.ROLLOVER,
        at=now,
        actor=actor,
        reason=(
            f"moved={len(plan.moves)} ({moved or 'none'}) left={len(plan.leavers)} "
            f"cards_revoked={plan.cards_to_revoke} approvals_ended={len(plan.approvals_to_end)}"
            + (f"; forced past: {len(plan.holdings)} phone(s) in a locker"
               if force and plan.holdings else "")
            + ("; forced past a recent rollover" if force and plan.previous_rollover else "")
        ),
    )
    plan.event_id = event.id
    plan.applied = True
    return plan
