"""The notices outbox on PostgreSQL: ON CONFLICT DO NOTHING keeps one row per occasion."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from kiosk.config import parse_config
from kiosk.notify.finder import find_all
from kiosk.notify.outbox import queue
from kiosk.notify.run import run_notify
from kiosk.store.db import Database
from kiosk.store.models import Notice

from .notify_helpers import SmtpServer, at, hold, seed_school, teacher
from .test_postgres import pg_url  # noqa: F401 - the fixture


def test_not_collected_on_postgresql_is_queued_and_sent_once(pg_url):  # noqa: F811
    with SmtpServer() as smtp:
        config = parse_config({
            "database": {"url": pg_url},
            "notify": {"host": "127.0.0.1", "port": smtp.port, "starttls": False,
                       "from": "pl@school.example", "office": ["office@school.example"],
                       "timeout_seconds": 1},
        })
        db = Database(pg_url)
        db.upgrade()
        with db.session() as session:
            ids = seed_school(session)
            hold(session, ids["Ada Lovelace"], at("2025-12-02T08:41:00"))
            teacher(session, "mrsk", "k@school.example", "6K")
        now = at("2025-12-02T15:50:00")
        # Two runs racing: both find the occasion, the UNIQUE key keeps one row each.
        with db.session() as first, db.session() as second:
            assert len(queue(first, find_all(first, config, now), now)) == 2
            first.commit()
            assert queue(second, find_all(second, config, now), now) == []
            second.commit()
        for minutes in (0, 1, 2):
            with db.session() as session:
                run_notify(session, config, now + timedelta(minutes=minutes))
        assert sorted(m["To"] for m in smtp.mailbox.messages) == [
            "k@school.example", "office@school.example"]
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Notice)) == 2
        db.dispose()
