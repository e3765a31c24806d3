"""Clock safety and the systemd watchdog, on the real kiosk loop."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import nfc.clf.udp
from sqlalchemy import select

from kiosk.config import load_config
from kiosk.locker.clock import ClockGuard, kernel_clock_synchronised
from kiosk.locker.daemon import Kiosk, build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.school.pupils import add_pupil
from kiosk.store.models import Event

from .conftest import write_config

NOW = datetime(2026, 11, 30, 8, 40, tzinfo=UTC)


def test_guard_trusts_a_synchronised_clock_moving_forwards():
    guard = ClockGuard(synchronised=lambda: True, newest_recorded=NOW - timedelta(hours=1))
    assert not guard.suspect(NOW)
    assert guard.ok()


def test_guard_flags_an_unsynchronised_clock():
    guard = ClockGuard(synchronised=lambda: False)
    assert guard.suspect(NOW)
    assert "not synchronised" in guard.reason
    assert not ClockGuard(check_sync=False, synchronised=lambda: False).suspect(NOW)


def test_guard_flags_a_clock_behind_the_newest_event():
    guard = ClockGuard(synchronised=lambda: True, newest_recorded=NOW)
    assert guard.suspect(NOW - timedelta(days=3))
    assert "behind the newest recorded event" in guard.reason
    assert not guard.suspect(NOW + timedelta(seconds=5))  # caught up: trusted again


def test_kernel_sync_state_is_readable_here():
    assert kernel_clock_synchronised() in (True, False)


def _service(tmp_path, mock_factory, guard):
    config = load_config(write_config(tmp_path))
    from kiosk.store.db import Database

    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    with db.session() as session:
        add_pupil(session, name="A", year=6, class_name="6K", card_uid="04A1B2C3D4E5F6",
                  actor="t")
        session.commit()
    hardware = build_hardware(config, mock_factory)
    return KioskService(config, db, hardware, clock=lambda: NOW, clock_suspect=guard.suspect), db


def test_events_are_marked_clock_suspect_on_an_unsynchronised_clock(tmp_path, mock_factory):
    service, db = _service(tmp_path, mock_factory, ClockGuard(synchronised=lambda: False))
    service.tap("04A1B2C3D4E5F6")
    with db.session() as session:
        deposit = session.scalars(select(Event).where(Event.kind == "deposit")).one()
    assert deposit.clock_suspect  # recorded all the same: a tap is never lost
    service.hardware.close()


def test_events_are_marked_clock_suspect_when_the_clock_went_backwards(tmp_path, mock_factory):
    guard = ClockGuard(synchronised=lambda: True, newest_recorded=NOW + timedelta(days=2))
    service, db = _service(tmp_path, mock_factory, guard)
    service.tap("04A1B2C3D4E5F6")
    with db.session() as session:
        deposit = session.scalars(select(Event).where(Event.kind == "deposit")).one()
    assert deposit.clock_suspect
    service.hardware.close()


def test_events_on_a_good_clock_are_not_suspect(tmp_path, mock_factory):
    guard = ClockGuard(synchronised=lambda: True, newest_recorded=NOW - timedelta(days=1))
    service, db = _service(tmp_path, mock_factory, guard)
    service.tap("04A1B2C3D4E5F6")
    with db.session() as session:
        deposit = session.scalars(select(Event).where(Event.kind == "deposit")).one()
    assert not deposit.clock_suspect
    service.hardware.close()


class NotifyListener:
    def __init__(self, tmp_path):
        self.path = str(tmp_path / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def discard(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(1024)
        self.sock.settimeout(0.2)

    def drain(self, seconds: float) -> list[str]:
        end = time.monotonic() + seconds
        got = []
        while time.monotonic() < end:
            with contextlib.suppress(TimeoutError):
                got.append(self.sock.recv(1024).decode())
        return got


def test_watchdog_is_fed_while_healthy_and_stops_when_the_reader_hangs(
    tmp_path, mock_factory, monkeypatch
):
    listener = NotifyListener(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # feed every 0.5 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    config = load_config(write_config(tmp_path))
    from kiosk.store.db import Database

    db = Database(config.database.url)
    db.upgrade()
    kiosk = Kiosk(config, db, pin_factory=mock_factory,
                  clock_guard=ClockGuard(check_sync=False))
    kiosk.stall_seconds = 2.5  # the udp reader proves life once per 1 s sense round
    hang = threading.Event()
    release = threading.Event()
    real_sense = nfc.clf.udp.Device.sense_tta

    def maybe_hang(self, target):
        if hang.is_set():
            release.wait(30)  # a reader stuck in a USB call
        return real_sense(self, target)

    monkeypatch.setattr(nfc.clf.udp.Device, "sense_tta", maybe_hang)
    loop = threading.Thread(target=kiosk.run, daemon=True)
    loop.start()
    try:
        healthy = listener.drain(3.0)
        assert healthy[0] == "READY=1"
        assert healthy.count("WATCHDOG=1") >= 3
        hang.set()
        time.sleep(4.0)  # > stall_seconds + one sense round
        listener.discard()  # what was sent before the stall was noticed
        stalled = listener.drain(2.0)
        assert "WATCHDOG=1" not in stalled
        assert not kiosk.healthy()
    finally:
        release.set()
        kiosk.stop()
        loop.join(timeout=10)
        listener.sock.close()
        os.unlink(listener.path)
    assert not loop.is_alive()
    assert kiosk.hardware.closed
