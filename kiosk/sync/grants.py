"""The kiosks' database role on the central PostgreSQL: least privilege, in one place.

A kiosk reads what it needs to decide taps (the roll, the lockers, other
lockers' holdings, its commands) and writes only what a kiosk writes: its
events, its holdings, its heartbeat, its commands' outcomes, and the card an
enrolment at the locker assigns. Its first cycle joins the school it ran on
its own (:mod:`kiosk.sync.join`), which may add the pupils, approvals, early
releases, exceptions and calendar days the central database lacks: INSERT
only, never UPDATE or DELETE, on the office's tables. It cannot read staff
accounts, password hashes, sign-in sessions or the email outbox. ``phonelocker sync grants ROLE``
prints these statements for the school's database administrator (docs/deploy.md).
"""

from __future__ import annotations

import re

#: table -> privileges (column lists where a kiosk may change only some columns)
KIOSK_GRANTS: dict[str, str] = {
    "pupils": "SELECT, INSERT",  # INSERT: the join adds a pupil the central roll lacks
    "cards": "SELECT, INSERT, UPDATE (active, revoked_at)",
    "year5_approvals": "SELECT, INSERT",  # INSERT on these four: the join, as pupils
    "early_releases": "SELECT, INSERT",
    "pupil_exceptions": "SELECT, INSERT",
    "calendar_days": "SELECT, INSERT",
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
KIOSK_SEQUENCES = ("cards_id_seq", "bays_id_seq", "events_id_seq", "pupils_id_seq",
                   "year5_approvals_id_seq", "early_releases_id_seq",
                   "pupil_exceptions_id_seq", "calendar_days_id_seq")
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
