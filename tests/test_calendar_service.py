"""The kiosk service with the calendar: today's entry is cached, refreshed by the daemon's poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk.calendar.days import close_early, entry, set_day
from kiosk.config import load_config
from kiosk.locker import tap as service_module
from kiosk.locker.daemon import build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.policy import Action
from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database

from .conftest import write_config

AMARA = "04A1B2C3D4E5F6"
# Tuesday 1 December 2026, 10:00 in London: before collection (15:15)
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def kiosk(tmp_path, mock_factory):
    path = write_config(
        tmp_path,
        "[locker]\nunlock_seconds = 0.2\n"
        '[policy]\ncollect_from = "15:15"\ngrace_seconds = 0\ndebounce_seconds = 0\n',
    )
    config = load_config(path)
    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    with db.session() as session:
        add_pupil(session, name="Amara", year=6, class_name="6K", card_uid=AMARA, actor="t")
        session.commit()
    clock = Clock(START)
    hardware = build_hardware(config, mock_factory)
    service = KioskService(config, db, hardware, clock=clock)
    yield service, clock, db, config
    hardware.close()
    db.dispose()


def test_closing_early_reaches_the_tap_path_on_the_next_refresh(kiosk, monkeypatch):
    service, clock, db, config = kiosk
    assert service.tap(AMARA).decision.action is Action.DEPOSIT
    assert service.tap(AMARA).decision.reason == "too_early"
    with db.session() as session:
        close_early(session, config.policy, reason="snow", by="office", now=clock.now)
        session.commit()
    # Within the cache's life the tap path does not go back to the database …
    monkeypatch.setattr(service_module, "SCHOOL_DAY_MAX_AGE", 3600.0)
    assert service.tap(AMARA).decision.reason == "too_early"
    # … and the daemon's poll refreshes it: collection is allowed at once.
    service.refresh_school_day()
    assert service.tap(AMARA).decision.action is Action.COLLECT


def test_a_stale_cache_is_read_again_by_the_tap_itself(kiosk, monkeypatch):
    service, clock, db, config = kiosk
    service.tap(AMARA)
    assert service.tap(AMARA).decision.reason == "too_early"
    with db.session() as session:
        close_early(session, config.policy, reason="snow", by="office", now=clock.now)
        session.commit()
    monkeypatch.setattr(service_module, "SCHOOL_DAY_MAX_AGE", 0.0)
    assert service.tap(AMARA).decision.action is Action.COLLECT


def test_a_new_local_day_reads_its_own_entry(kiosk, monkeypatch):
    service, clock, db, _config = kiosk
    monkeypatch.setattr(service_module, "SCHOOL_DAY_MAX_AGE", 3600.0)
    service.tap(AMARA)
    assert service.tap(AMARA).decision.reason == "too_early"  # cached: no entry today
    tomorrow = clock.now + timedelta(days=1)
    with db.session() as session:
        set_day(session, entry(tomorrow.date(), closed=True, collect_from=None,
                               reason="INSET day"), by="office", now=clock.now)
        session.commit()
    clock.now = tomorrow  # 10:00 the next day: the cached entry is for another date
    assert service.tap(AMARA).decision.action is Action.COLLECT


def test_the_daemons_refresh_skips_a_young_cache(kiosk, monkeypatch):
    service, clock, db, config = kiosk
    service.refresh_school_day()
    with db.session() as session:
        close_early(session, config.policy, reason="snow", by="office", now=clock.now)
        session.commit()
    monkeypatch.setattr(service_module, "SCHOOL_DAY_MAX_AGE", 3600.0)
    assert service.refresh_school_day(older_than=3600.0) is None  # young: not read again
    day = service.refresh_school_day(older_than=0.0)
    assert day is not None and day.reason == "snow"
