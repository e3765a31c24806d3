"""``phonelocker sync status``: the sync as the kiosk's own database records it.

The running kiosk writes its sync worker's report with every heartbeat
(``kiosk_status``); when that heartbeat is fresh the report is used as it is.
When the kiosk is not running, the status reaches the central database itself
(a few seconds at most) to say whether it could connect. The events waiting are
always counted from the kiosk's own database against the sync cursor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from kiosk.config import Config
from kiosk.store.db import Database
from kiosk.store.models import Event, KioskStatus
from kiosk.sync import state, up
from kiosk.sync.central import central_engine, display_url
from kiosk.sync.join import short_error
from kiosk.sync.worker import _TAP_KINDS, SyncReport, describe
from kiosk.timeutil import as_aware, naive_utc


def probe(url: str) -> str | None:
    """None if the central database answers now, else why not."""
    engine = central_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure is the answer
        return short_error(error)
    finally:
        engine.dispose()
    return None


def sync_status(config: Config, db: Database, now: datetime) -> dict:
    """The ``sync status --json`` document (see docs/deploy.md)."""
    assert config.central is not None
    with db.engine.connect() as local:
        cursor = state.read_int(local, state.SENT_EVENT_ID)
        pending = up.pending_count(local, cursor)
        taps = local.execute(
            select(func.count()).where(Event.id > cursor, Event.kind.in_(_TAP_KINDS))
        ).scalar_one()
        joined = state.read(local, state.JOINED)
        # the table, not the entity: on a Core connection row[0] would be the first column
        status = local.execute(
            select(KioskStatus.__table__).where(KioskStatus.locker_id == config.locker.id)
        ).first()
    fresh = (
        status is not None and status.stopped_at is None
        and naive_utc(now) - status.updated_at
        < timedelta(seconds=config.web.offline_after_seconds)
    )
    if fresh:
        connected = status.offline_since is None and status.last_sync_at is not None
        error = status.sync_error
        offline_since = status.offline_since
        kiosk_running = True
    else:
        error = probe(config.central.url)
        connected = error is None
        offline_since = None
        kiosk_running = False
    last_sync = status.last_sync_at if status is not None else None
    report = SyncReport(
        central=display_url(config.central.url), connected=connected, pending_events=pending,
        last_sync=last_sync, last_error=error, offline_since=offline_since,
        taps_waiting=taps,
    )
    return {
        "central": report.central,
        "connected": connected,
        "pending_events": pending,
        "last_sync": as_aware(last_sync).isoformat() if last_sync else None,
        "last_error": error,
        "locker": config.locker.id,
        "kiosk_running": kiosk_running,
        "offline_since": as_aware(offline_since).isoformat() if offline_since else None,
        "taps_waiting": taps,
        "joined": joined,
        "message": describe(report, config.policy.zone),
    }
