"""What the sync worker keeps in the kiosk's own database (the ``sync_state`` table).

Cursors live beside the data they count, so a restored backup brings back a
cursor that matches its own events: nothing recorded after it is skipped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from kiosk.store.models import SyncState

#: the id of the last local event the central database has confirmed
SENT_EVENT_ID = "sent_event_id"
#: the id of the last central event read for this locker (office hand-backs)
SEEN_CENTRAL_EVENT_ID = "seen_central_event_id"
#: the central database (password masked) this kiosk's school was joined to, and when
JOINED = "joined"
#: when ``phonelocker sync now`` last completed an exchange (ISO, UTC); the running
#: kiosk's worker reports its own through the heartbeat instead (no write per cycle)
LAST_SYNC_BY_HAND = "last_sync_by_hand"

_TABLE = SyncState.__table__


def read(connection: Connection, key: str) -> str | None:
    """The stored value of ``key`` (None if never written)."""
    return connection.execute(select(_TABLE.c.value).where(_TABLE.c.key == key)).scalar()


def read_int(connection: Connection, key: str) -> int:
    value = read(connection, key)
    return int(value) if value else 0


def write(connection: Connection, key: str, value: str | int, now: datetime) -> None:
    """Store ``key`` in the caller's transaction."""
    updated = connection.execute(
        _TABLE.update().where(_TABLE.c.key == key).values(value=str(value), updated_at=now)
    )
    if updated.rowcount == 0:
        connection.execute(_TABLE.insert().values(key=key, value=str(value), updated_at=now))
