"""The kiosks' database role on the central PostgreSQL: least privilege, in one place.

A kiosk reads what it needs to decide taps (the roll, the lockers, other
lockers' holdings, its commands) and writes only what a kiosk writes: its
events, its holdings, its heartbeat, its commands' outcomes, and the card an
enrolment at the locker assigns. It never writes the office's roll: a locker
that ran on its own and has pupils to add joins once through the dashboard's
role (``phonelocker sync join --url``, :mod:`kiosk.sync.join`); with this role
its worker says so and writes nothing. It cannot read staff accounts, password
hashes, sign-in sessions or the email outbox. ``phonelocker sync grants ROLE``
prints these statements for the school's database administrator (docs/deploy.md).
"""

from __future__ import annotations

import re

#: table -> privileges (column lists where a kiosk may change only some columns)
KIOSK_GRANTS: dict[str, str] = {
    "pupils": "SELECT",
    "cards": "SELECT, INSERT, UPDATE (active, revoked_at)",  # an enrolment at the locker
    "year5_approvals": "SELECT",
    "early_releases": "SELECT",
    "pupil_exceptions": "SELECT",
    "calendar_days": "SELECT",
    "lockers": "SELECT, INSERT, UPDATE (name)",
    "bays": "SELECT, INSERT",
    "holdings": "SELECT, INSERT, DELETE",
    "events": "SELECT, INSERT",
    "kiosk_status": "SELECT, INSERT, UPDATE",
    "commands": "SELECT, UPDATE (status, result, finished_at, card_uid, locker_id)",
    "change_counters": "SELECT, UPDATE (version)",
    "alembic_version": "SELECT",
}
#: the sequences behind the tables a kiosk inserts into
KIOSK_SEQUENCES = ("cards_id_seq", "bays_id_seq", "events_id_seq")
#: never granted: who signs in, how, and what is mailed to them
PRIVATE_TABLES = ("staff_users", "staff_classes", "web_sessions", "notices", "notify_state",
                  "staff_arrangements", "sync_state")
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(role: str) -> list[str]:
    """The SQL that gives ``role`` exactly what a kiosk needs (run as the schema owner)."""
    if not ROLE_NAME.match(role):
        raise ValueError(f"{role!r} is not a plain PostgreSQL role name (a-z, 0-9, _)")
    statements = [f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"]
    statements += [f"GRANT {privileges} ON {table} TO {role}"
                   for table, privileges in KIOSK_GRANTS.items()]
    statements += [f"GRANT USAGE ON SEQUENCE {sequence} TO {role}" for sequence in KIOSK_SEQUENCES]
    return statements
