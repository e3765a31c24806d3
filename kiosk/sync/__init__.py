"""Many lockers, one school: a kiosk's local SQLite kept in step with a central database.

Each kiosk decides and records every tap in its own SQLite, exactly as a
standalone locker does; the network is never on the tap path. The sync worker
(:mod:`kiosk.sync.worker`, a thread of the kiosk process) exchanges changes
with the school's central database (``[central] url``) whenever it can reach it:

- **up** (:mod:`kiosk.sync.up`): the events this kiosk recorded (each with a
  ``uid`` unique across lockers, so a retry stores nothing twice), this locker's
  holdings, its heartbeat and the outcome of the commands it carried out;
- **down** (:mod:`kiosk.sync.down`): the roll (pupils, cards, approvals, early
  releases, exceptions, calendar, lockers), the phones held in *other* lockers,
  the office's hand-backs from this locker, and the commands for this locker.

Each side owns its facts: the office owns the roll, each kiosk what happened at
its locker. :mod:`kiosk.sync.join` sends a standalone locker's school up once.
"""
