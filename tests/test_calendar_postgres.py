"""The calendar and open-all on PostgreSQL (skipped without PHONELOCKER_TEST_POSTGRES_URL)."""

from __future__ import annotations

import json
from datetime import time, timedelta

from kiosk.calendar.days import close_early, entry, list_days, set_day
from kiosk.policy import Action
from kiosk.school.evacuation import held_list, open_all

from .test_postgres import kiosk, pg_url  # noqa: F401 - fixtures


def test_closing_early_and_open_all_on_postgresql(kiosk):  # noqa: F811 - fixture
    service, db, config, clock, amara_id = kiosk
    assert service.tap("04A1B2C3D4E5F6").decision.action is Action.DEPOSIT
    with db.session() as session:
        tomorrow = clock["now"].date() + timedelta(days=1)
        set_day(session, entry(tomorrow, closed=True, collect_from=None, reason="INSET"),
                by="office", now=clock["now"])
        day = close_early(session, config.policy, reason="snow", by="office", now=clock["now"])
        session.commit()
        assert day.collect_from == time(8, 40)
        assert [d.on_date for d in list_days(session)] == [clock["now"].date(), tomorrow]
    service.refresh_school_day()
    assert service.tap("04A1B2C3D4E5F6").decision.action is Action.COLLECT
    service.tap("04A1B2C3D4E5F6")  # handed in again
    with db.session() as session:
        opened = open_all(session, actor="Mrs Head", reason="fire", now=clock["now"])
        session.commit()
        assert json.loads(opened.event.details)["held"][0]["pupil_id"] == amara_id
        assert [row["name"] for row in held_list(session, opened.event)] == ["Amara"]
