"""The commands table: stale requests expire instead of opening a locker later."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kiosk.school.commands import claim, queue_unlock
from kiosk.store.models import Command, Event, Locker
from kiosk.timeutil import utcnow


def test_a_stale_unlock_expires_and_is_audited(db):
    with db.session() as session:
        session.add(Locker(id="6k", name="6K"))
        old, _fresh = queue_unlock(session, actor="Office", reason="fire", locker_id="6k") + \
            queue_unlock(session, actor="Office", reason="drill", locker_id="6k")
        old.created_at = utcnow() - timedelta(minutes=30)
        session.commit()
        live = claim(session, "6k")
        session.commit()
        assert [c.reason for c in live] == ["drill"]
        statuses = dict(session.execute(select(Command.reason, Command.status)).all())
        assert statuses == {"fire": "expired", "drill": "running"}
        expired = session.scalars(select(Event).where(Event.kind == "command_expired")).one()
        assert expired.actor == "Office" and "not carried out" in expired.reason


def test_unlock_for_every_locker_queues_one_command_each(db):
    with db.session() as session:
        session.add_all([Locker(id="6k", name="6K"), Locker(id="6b", name="6B")])
        commands = queue_unlock(session, actor="Office", reason="fire")
        assert sorted(c.locker_id for c in commands) == ["6b", "6k"]
