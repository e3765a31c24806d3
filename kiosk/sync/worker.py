"""The sync worker: a thread of the kiosk process that keeps it in step with the school.

Every ``[central] poll_seconds`` it asks the central database one small
question (:func:`kiosk.sync.down.poll`); only what changed is then read or
written. A connected idle kiosk costs one query per poll on one connection.
When the central database cannot be reached the worker says so
(:meth:`SyncWorker.report`: "offline since 08:41, 12 taps waiting"), backs
off, and tries again; the kiosk's taps never wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, DateTime, Engine, Integer, String, func, select, text

from kiosk.config import Config
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Event
from kiosk.store.prepared import Prepared
from kiosk.sync import down, join, state, up
from kiosk.sync.central import central_engine, display_url
from kiosk.sync.mirror import ROLL_TABLES, mirror
from kiosk.timeutil import as_aware, aware_utc_now, naive_utc

log = logging.getLogger(__name__)

#: the longest wait between two attempts to reach an unreachable central database
MAX_BACKOFF = 10.0
#: other lockers' holdings are re-read at most this often (only the rare
#: cross-locker tap needs them), so 20 kiosks in the morning rush stay cheap
OTHER_HOLDINGS_SECONDS = 1.0
#: pending commands are also looked for this often even when no counter moved
COMMANDS_SECONDS = 5.0
_TAP_KINDS = ("deposit", "collect", "reopen", "refused")
# What an idle cycle must know of the kiosk's database, in one round trip on the
# DBAPI cursor (kiosk/store/prepared.py): half a millisecond of SQLAlchemy per
# statement is most of an idle kiosk's CPU otherwise.
IDLE_CHECK_SQL = text(
    "SELECT (SELECT value FROM sync_state WHERE key = 'sent_event_id') AS sent,"
    " (SELECT max(id) FROM events) AS newest,"
    " (SELECT updated_at FROM kiosk_status WHERE locker_id = :locker) AS status_at,"
    " (SELECT count(*) FROM commands WHERE central_id IS NOT NULL AND synced_at IS NULL"
    "  AND status IN ('done', 'failed', 'expired')) AS results"
)
IDLE_CHECK_COLUMNS = {"sent": String(), "newest": Integer(), "status_at": DateTime(),
                      "results": Integer()}


@dataclass(frozen=True)
class SyncReport:
    """What the worker knows now (the heartbeat writes it; ``sync status`` shows it)."""

    central: str
    connected: bool
    pending_events: int
    last_sync: datetime | None
    last_error: str | None
    offline_since: datetime | None
    taps_waiting: int = 0


def describe(report: SyncReport, zone) -> str:
    """One line for a person: "offline since 08:41, 12 taps waiting"."""
    if report.connected:
        waiting = report.pending_events
        tail = "nothing waiting" if not waiting else f"{waiting} events being sent"
        when = (f"last sync {as_aware(report.last_sync).astimezone(zone):%H:%M:%S}"
                if report.last_sync else "not synced yet")
        return f"connected to the central database; {when}, {tail}"
    since = report.offline_since or report.last_sync
    start = (f"offline since {as_aware(since).astimezone(zone):%H:%M}" if since
             else "not connected yet")
    taps = report.taps_waiting
    return f"{start}, {taps} tap{'s' if taps != 1 else ''} waiting"


class SyncWorker:
    """Exchanges changes between one kiosk's database and the central one."""

    def __init__(self, config: Config, db: Database, *,
                 clock: Callable[[], datetime] = aware_utc_now) -> None:
        assert config.central is not None, "a sync worker needs [central] url"
        self.config = config
        self.db = db
        self.clock = clock
        self.locker_id = config.locker.id
        self.url = config.central.url
        self.poll_seconds = config.central.poll_seconds
        self._engine: Engine | None = None
        #: the one question an idle cycle asks the kiosk's database
        self._idle = Prepared(IDLE_CHECK_SQL, db.engine.dialect, columns=IDLE_CHECK_COLUMNS)
        self._connection: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # what the last successful cycle saw
        self._counters: dict[str, int] = {}
        self._seen_events = -1
        self._holdings_seen = -1
        self._registered = False
        self._joined = False
        self._holdings_dirty = True
        self._pushed_status: datetime | None = None
        self._other_holdings_at = 0.0
        #: seconds between two reads of the other lockers' holdings (tests set 0)
        self.other_holdings_seconds = OTHER_HOLDINGS_SECONDS
        self._commands_at = 0.0
        # the report
        self._connected = False
        self._last_sync: datetime | None = None
        self._last_error: str | None = None
        self._offline_since: datetime | None = None
        self._pending = 0
        self._taps_waiting = 0

    # --- the thread -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._disconnect()
        if self._engine is not None:
            self._engine.dispose()

    def run(self) -> None:
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                self.cycle()
            except Exception as error:  # any failure: report, reconnect later, never die
                self._failed(error)
                backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF)
                self._stop.wait(backoff)
            else:
                backoff = self.poll_seconds
                self._stop.wait(self.poll_seconds)

    # --- one cycle ----------------------------------------------------------------

    def cycle(self) -> None:
        """One exchange with the central database (raises if it cannot be reached)."""
        central = self._connect()
        now = naive_utc(self.clock())
        was_offline, taps_waiting = self._offline_since, self._taps_waiting
        if not self._joined:
            result = join.join(central, self.db, self.config, now=now)
            central.commit()
            if not result.joined:
                raise join.JoinNeedsAttention(result.summary())
            self._joined = True
        if not self._registered:
            up.register_locker(central, self.locker_id, self.config.locker.name,
                               [bay.number for bay in self.config.locker.bays])
            down.release_held(central, self.db.engine)
            central.commit()
            self._registered = True
        counters = down.poll(central)
        central.commit()
        newest = counters.get(down.EVENTS, 0)
        if self._seen_events < 0:
            with self.db.engine.connect() as local:
                self._seen_events = state.read_int(local, state.SEEN_CENTRAL_EVENT_ID)
        if newest != self._seen_events:
            if down.pull_office_ends(central, self.db.engine, self.locker_id,
                                     self._seen_events, newest, now):
                self._holdings_dirty = True
            central.commit()
            self._seen_events = newest
        self._send_up(central, now)
        changed = [name for name in ROLL_TABLES
                   if counters.get(name) != self._counters.get(name)]
        if changed:
            mirror(central, self.db.engine, changed, keep={"lockers": {self.locker_id}})
            central.commit()
        commands_due = time.monotonic() - self._commands_at >= COMMANDS_SECONDS
        if counters.get("commands") != self._counters.get("commands") or commands_due:
            down.pull_commands(central, self.db.engine, self.locker_id, now)
            central.commit()
            self._commands_at = time.monotonic()
        holdings_due = time.monotonic() - self._other_holdings_at >= self.other_holdings_seconds
        if newest != self._holdings_seen and holdings_due:
            down.pull_other_holdings(central, self.db.engine, self.locker_id)
            central.commit()
            self._other_holdings_at = time.monotonic()
            self._holdings_seen = newest
        self._counters = counters
        if was_offline is not None:
            self._back_online(was_offline, now, taps_waiting)
        self._succeeded(now)

    def _send_up(self, central: Connection, now: datetime) -> None:
        connection = self.db.engine.raw_connection()
        try:
            cursor_ = connection.cursor()
            idle = self._idle.first(cursor_, {"locker": self.locker_id})
            cursor_.close()
            connection.rollback()
        finally:
            connection.close()
        assert idle is not None
        cursor = int(idle["sent"] or 0)
        newest_local, status_at, results = idle["newest"] or 0, idle["status_at"], idle["results"]
        if newest_local <= cursor and status_at == self._pushed_status and not results \
                and not self._holdings_dirty:
            self._pending = 0
            self._taps_waiting = 0
            return
        if newest_local > cursor:
            up.give_uids(self.db.engine, cursor)
        while True:
            snapshot = up.take_snapshot(self.db.engine, self.locker_id)
            seen = max(self._seen_events, 0)
            sent = up.send(central, snapshot, locker_id=self.locker_id,
                           zone=self.config.policy.zone, seen_central_event=seen, now=now)
            central.commit()
            up.confirm(self.db.engine, snapshot, now)
            for conflict in sent.conflicts:
                log.warning("sync conflict: %s", conflict)
            self._pushed_status = snapshot.status["updated_at"] if snapshot.status else None
            self._pending = snapshot.pending_after
            if snapshot.caught_up:
                self._holdings_dirty = False
                self._taps_waiting = 0
                return
            self._holdings_dirty = True

    def _back_online(self, since: datetime, now: datetime, taps: int) -> None:
        zone = self.config.policy.zone
        with self.db.session() as session:
            record_event(
                session, Kind.SYNC_BACK_ONLINE, at=now, locker_id=self.locker_id,
                actor="sync",
                reason=(f"offline from {as_aware(since).astimezone(zone):%H:%M} to "
                        f"{as_aware(now).astimezone(zone):%H:%M}; {taps} "
                        "tap(s) recorded meanwhile were sent"),
            )
            session.commit()

    # --- the connection ---------------------------------------------------------

    def _connect(self) -> Connection:
        if self._connection is None:
            if self._engine is None:
                self._engine = central_engine(self.url)
            self._connection = self._engine.connect()
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # already broken: nothing to tidy
                log.debug("closing a broken central connection", exc_info=True)

    # --- the report -------------------------------------------------------------

    def _succeeded(self, now: datetime) -> None:
        with self._lock:
            if not self._connected:
                log.info("connected to the central database %s", display_url(self.url))
            self._connected = True
            self._last_sync = now
            self._last_error = None
            self._offline_since = None

    def _failed(self, error: BaseException) -> None:
        self._disconnect()
        message = join.short_error(error)
        with self._lock:
            if self._connected or self._last_error != message:
                log.warning("central database: %s", message)
            self._connected = False
            self._last_error = message
            if self._offline_since is None:
                self._offline_since = naive_utc(self.clock())
        try:
            self._count_waiting()
        except Exception:  # the local database failing is the daemon's to report
            log.debug("could not count waiting events", exc_info=True)

    def _count_waiting(self) -> None:
        with self.db.engine.connect() as local:
            cursor = state.read_int(local, state.SENT_EVENT_ID)
            self._pending = up.pending_count(local, cursor)
            self._taps_waiting = local.execute(
                select(func.count()).where(Event.id > cursor, Event.kind.in_(_TAP_KINDS))
            ).scalar_one()

    def report(self) -> SyncReport:
        with self._lock:
            return SyncReport(
                central=display_url(self.url), connected=self._connected,
                pending_events=self._pending, last_sync=self._last_sync,
                last_error=self._last_error, offline_since=self._offline_since,
                taps_waiting=self._taps_waiting,
            )
