"""The registers on PostgreSQL: status's exception field and the purge's date comparisons.

Skips without ``PHONELOCKER_TEST_POSTGRES_URL`` (mandatory in CI), like test_postgres.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kiosk.care.retention import purge
from kiosk.registers.arrangements import add_arrangement, end_arrangement
from kiosk.registers.exceptions import add_exception
from kiosk.school.queries import pupil_states
from kiosk.store.models import Pupil, PupilException, StaffArrangement

from .test_postgres import kiosk, pg_url  # noqa: F401 - fixtures


def test_exceptions_in_status_and_purge_on_postgresql(kiosk):  # noqa: F811
    _service, db, config, clock, amara_id = kiosk
    zone = config.policy.zone
    now = clock["now"]
    long_ago = now - timedelta(days=600)
    with db.session() as session:
        amara = session.get(Pupil, amara_id)
        add_exception(session, amara, kind="medical", reason="monitor", agreed_by="Mrs Patel",
                      now=now, zone=zone, until=now.date())
        add_exception(session, amara, kind="other", reason="old", agreed_by="Mrs Patel",
                      now=long_ago, zone=zone, starts_on=long_ago.date(),
                      until=long_ago.date() + timedelta(days=30))
        old = add_arrangement(session, staff_name="Mr A", arrangement="MFA codes",
                              agreed_by="Head", now=long_ago, zone=zone)
        end_arrangement(session, old, by="admin", reason="r", now=long_ago)
        session.commit()
        row = next(p for p in pupil_states(session, config, now=now)["pupils"]
                   if p["id"] == amara_id)
        assert row["exception"] == {"kind": "medical", "until": now.date().isoformat(),
                                    "review": None}
        tomorrow = pupil_states(session, config, now=now + timedelta(days=1))["pupils"]
        assert next(p for p in tomorrow if p["id"] == amara_id)["exception"] is None

        result = purge(session, events_months=13, leavers_months=13,
                       now=datetime(2026, 12, 1, tzinfo=UTC))
        session.commit()
        assert (result.exceptions, result.arrangements) == (1, 1)
        assert [r.kind for r in session.scalars(select(PupilException))] == ["medical"]
        assert session.scalars(select(StaffArrangement)).all() == []
