"""Disk full (SQLITE_FULL) with the kiosk daemon in this process, gpiozero's MockFactory and
nfcpy's udp reader; the dashboard on the Flask test client.

How the disk is filled: ``PRAGMA max_page_count`` on the kiosk's own connections
caps the database at its current size, then the test records deposits for Ben
until SQLite answers "database or disk is full" (SQLITE_FULL, the error a full
disk gives). His real tap then needs room in the same pages and fails the same
way. The heartbeat may still be written (an in-place update needs no new page),
so this checks the words and the lock state with a fresh heartbeat; the stale
heartbeat case is tests/test_disk_full.py.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from hardware.virtual_card import present_card
from kiosk.locker.clock import ClockGuard
from kiosk.locker.daemon import Kiosk
from kiosk.store.db import Database
from kiosk.store.events import Kind, event_values, record_event
from kiosk.store.models import Event, Pupil
from kiosk.store.runtime_status import DISK_FULL, read_status
from web import create_app

from .test_disk_full import two_bay_school, wait_until

AMARA, BEN = "04A1B2C3D4E5F6", "04B1B2C3D4E5F7"
PASSWORD = "correct horse battery staple"
NO_LIMIT = 1073741823  # SQLite's default max_page_count


def rising_edges(pin, since: int) -> int:
    """How often ``pin`` went on after its ``since``-th recorded state (MockPin.states)."""
    states = pin.states[max(since - 1, 0):]
    return sum(1 for a, b in itertools.pairwise(states) if not a.state and b.state)


@pytest.fixture
def school(tmp_path):
    _config_file, config, db = two_bay_school(tmp_path, 2)
    yield config, db
    db.dispose()


def test_disk_full_refuses_the_tap_says_so_flashes_red_and_recovers(school, mock_factory,
                                                                   caplog):
    config, db = school
    kiosk_db = Database(config.database.url)  # the kiosk's own connections, capped below
    kiosk = Kiosk(config, kiosk_db, pin_factory=mock_factory,
                  clock_guard=ClockGuard(check_sync=False))
    kiosk.hardware.close_doors_if_emulated()
    red = kiosk.hardware.red.pin
    ben_bay = kiosk.hardware.bays[2]
    app = create_app(config, db, test_config={
        "TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
    })
    web = app.test_client()
    assert web.post("/login", data={"username": "office", "password": PASSWORD}).status_code \
        == 302
    limit = {"pages": NO_LIMIT}

    @event.listens_for(kiosk_db.engine, "connect")
    def cap(dbapi_connection, _record):
        # max_page_count cannot go below the current size: 1 means "no bigger than now"
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages']}")

    loop = threading.Thread(target=kiosk.run, daemon=True)
    loop.start()
    try:
        wait_until(lambda: kiosk.reader.ok, 10, "the reader")
        with db.session() as session:
            ben = session.scalar(select(Pupil.id).where(Pupil.name == "Ben Adeyemi"))

        # The disk fills up.
        limit["pages"] = 1
        kiosk_db.engine.dispose()
        with kiosk_db.session() as session:
            with pytest.raises(OperationalError, match="database or disk is full"):
                # rows shaped like a tap's (no uid: taps get theirs from the sync), so the
                # tap below finds no space left either
                for _ in range(10_000):
                    session.add(Event(**event_values(Kind.DEPOSIT, pupil_id=ben, card_uid=BEN,
                                                     locker_id=config.locker.id, bay=2)))
                    session.commit()
            session.rollback()
        filled = len(red.states)

        with caplog.at_level("INFO"):
            present_card(BEN, hold=0.2, path=config.reader.device)
            wait_until(lambda: kiosk.write_faults, 5, "the refused tap")
            time.sleep(1.5)
        assert kiosk.write_faults == {"events": DISK_FULL}
        assert ben_bay.locked  # refused: nothing opens unrecorded
        assert [r.getMessage() for r in caplog.records
                if r.getMessage().startswith(DISK_FULL)] != []
        assert rising_edges(red, filled) >= 3  # 0.25 s on / 0.25 s off, not the reader's 2 s
        document = read_status(kiosk.status_file)
        assert document["problem"] == "cannot record taps: disk full" and not document["ok"]
        assert "database or disk is full" in document["detail"]
        assert {"bay": 2, "locked": True, "door": "closed"} in document["bays"]

        panel = web.get("/api/lockers").get_json()
        assert panel["lockers"][0]["problem"] == DISK_FULL
        assert "Cannot record taps: disk full" in panel["html"]["lockers"]
        screen = web.get("/api/screen").get_json()
        assert screen["message"] == "Cannot record taps: disk full"
        assert screen["detail"].startswith("Phones stay locked in")

        # Space returns: the next tap is recorded, and everything says so.
        limit["pages"] = NO_LIMIT
        kiosk_db.engine.dispose()
        with caplog.at_level("INFO"):
            present_card(BEN, hold=0.2, path=config.reader.device)
            wait_until(lambda: not kiosk.write_faults, 5, "recovery")
        assert any("database writes work again" in r.getMessage() for r in caplog.records)
        assert read_status(kiosk.status_file)["ok"] is True
        assert web.get("/api/lockers").get_json()["lockers"][0]["problem"] is None
        assert web.get("/api/screen").get_json()["message"] != "Cannot record taps: disk full"
        time.sleep(2.0)  # the accept() green flash; red is simply off
        recovered = len(red.states)
        time.sleep(1.0)
        assert rising_edges(red, recovered) == 0  # the fast red flash has stopped
    finally:
        kiosk.stop()
        loop.join(timeout=10)
        kiosk_db.dispose()
    with db.session() as session:
        taps = session.scalars(select(Event.kind).where(Event.card_uid == BEN,
                                                        Event.actor.is_(None)))
        assert list(taps)[-1] == Kind.DEPOSIT


def test_kiosk_restarted_on_a_full_disk_runs_and_says_so(school, mock_factory):
    """Restarted (watchdog, power cut) while the disk is full, the kiosk must not exit at once
    (and again every 2 s): it starts, refuses taps, and writes its status file."""
    config, _db = school
    kiosk_db = Database(config.database.url)

    @event.listens_for(kiosk_db.engine, "connect")
    def cap(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA max_page_count = 1")

    started = f"reader {config.reader.device}, pins {config.gpio.pin_factory}"
    with kiosk_db.session() as session:  # earlier starts filled the last pages
        with pytest.raises(OperationalError, match="database or disk is full"):
            for _ in range(10_000):
                record_event(session, Kind.KIOSK_STARTED, locker_id=config.locker.id,
                             reason=started)
                session.commit()
        session.rollback()
    kiosk = Kiosk(config, kiosk_db, pin_factory=mock_factory,
                  clock_guard=ClockGuard(check_sync=False))
    try:
        kiosk.start()
        assert kiosk.write_faults["events"] == DISK_FULL
        document = read_status(kiosk.status_file)
        assert document["problem"] == DISK_FULL
        assert all(bay["locked"] for bay in document["bays"])
    finally:
        kiosk.close()
        kiosk_db.dispose()
