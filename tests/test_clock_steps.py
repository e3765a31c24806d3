"""A wall clock that steps backwards (NTP correcting a boot with a clock that was ahead).

The guard and the service are driven by injected clocks: a wall clock the test
steps, and a monotonic clock that only moves forwards, as the kernel's does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kiosk.config import load_config
from kiosk.locker.clock import ClockGuard, rebase
from kiosk.locker.daemon import build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.policy import Action, Refusal
from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database
from kiosk.store.models import Event

from .conftest import write_config

#: 08:40 on a Monday, before collection time: a repeat tap that is not a
#: re-open is refused too_early, so a failed grace re-open shows plainly
WRONG = datetime(2026, 11, 30, 9, 40, tzinfo=UTC)  # an hour ahead
STEP = timedelta(hours=1)
CARD = "04A1B2C3D4E5F6"


class Clocks:
    """An injected wall clock (seconds) and a monotonic one; only the wall can step."""

    def __init__(self, start: datetime) -> None:
        self.wall = start.timestamp()
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def step(self, delta: timedelta) -> None:
        self.wall += delta.total_seconds()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall, UTC)

    def guard(self, **kwargs) -> ClockGuard:
        return ClockGuard(synchronised=lambda: True, wall=lambda: self.wall,
                          monotonic=lambda: self.mono, **kwargs)


def test_suspect_after_a_backwards_step_ends_once_the_clock_is_steady():
    clocks = Clocks(WRONG)
    guard = clocks.guard(settle_seconds=60)
    assert not guard.suspect(clocks.now())
    clocks.advance(30)
    assert not guard.suspect(clocks.now())  # newest recorded is now WRONG + 30 s
    clocks.step(-STEP)
    assert guard.suspect(clocks.now())
    assert "jumped backwards" in guard.reason
    clocks.advance(30)
    assert guard.suspect(clocks.now())  # still settling
    clocks.advance(31)
    # Sane again: neither the step nor the times recorded before it (moved by the
    # step) keep it suspect.
    assert not guard.suspect(clocks.now())
    assert guard.ok()
    assert guard.newest_recorded == clocks.now()


def test_a_clock_behind_unrelated_newer_events_stays_suspect_until_it_catches_up():
    clocks = Clocks(WRONG)
    guard = clocks.guard(newest_recorded=WRONG + timedelta(minutes=10))
    assert guard.suspect(clocks.now())
    clocks.advance(11 * 60)
    assert not guard.suspect(clocks.now())


def test_rebase_moves_a_future_time_by_the_step_and_never_past_the_boundary():
    now = WRONG - STEP + timedelta(seconds=10)
    assert rebase(now - timedelta(seconds=5), now, boundary=now) == now - timedelta(seconds=5)
    moved = rebase(WRONG, now, boundary=now, stepped_back=STEP)
    assert moved == WRONG - STEP
    start = now - timedelta(seconds=3)  # the step was not seen: bounded by the start
    assert rebase(WRONG, now, boundary=start) == start


def _service(tmp_path, mock_factory, clocks: Clocks, guard: ClockGuard | None):
    config = load_config(write_config(
        tmp_path, '[locker]\nunlock_seconds = 0.1\n[policy]\ncollect_from = "15:15"\n'))
    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    with db.session() as session:
        if session.scalar(select(Event.id).limit(1)) is None:
            add_pupil(session, name="A", year=6, class_name="6K", card_uid=CARD, actor="t",
                      now=WRONG - timedelta(days=7))
            session.commit()
    hardware = build_hardware(config, mock_factory)
    kwargs = {} if guard is None else {
        "clock_suspect": guard.suspect, "rebase_recorded": guard.rebase}
    return KioskService(config, db, hardware, clock=clocks.now, **kwargs), db


def _events(db) -> list[tuple[str, bool]]:
    with db.session() as session:
        rows = session.execute(
            select(Event.kind, Event.clock_suspect).where(Event.card_uid == CARD)
            .order_by(Event.id)).all()
    return [tuple(row) for row in rows][1:]  # after the enrolment


def test_grace_reopen_works_after_the_clock_steps_back_while_running(tmp_path, mock_factory):
    clocks = Clocks(WRONG)
    guard = clocks.guard()
    service, db = _service(tmp_path, mock_factory, clocks, guard)
    try:
        assert service.tap(CARD).decision.action is Action.DEPOSIT
        clocks.step(-STEP)  # NTP: the deposit is now an hour "in the future"
        clocks.advance(10)
        outcome = service.tap(CARD)
        assert outcome.decision.action is Action.REOPEN, outcome.decision
        clocks.advance(120)  # past grace, still before collection time
        outcome = service.tap(CARD)
        assert outcome.decision.reason == Refusal.TOO_EARLY
        # suspect only while the step settled; the later refusal is trusted again
        assert _events(db) == [("deposit", False), ("reopen", True), ("refused", False)]
    finally:
        service.hardware.close()
        db.dispose()


def test_grace_reopen_works_after_a_crash_and_a_backwards_step(tmp_path, mock_factory):
    clocks = Clocks(WRONG)
    first, db = _service(tmp_path, mock_factory, clocks, clocks.guard())
    assert first.tap(CARD).decision.action is Action.DEPOSIT
    first.hardware.close()  # the crash: recorded, and the bay never opened
    db.dispose()
    clocks.step(-STEP)  # corrected while the kiosk was down
    clocks.advance(5)
    # The restarted kiosk never saw the step: the deposit is simply in its future.
    second, db = _service(tmp_path, mock_factory, clocks, None)
    try:
        clocks.advance(5)
        outcome = second.tap(CARD)
        assert outcome.decision.action is Action.REOPEN, outcome.decision
        assert outcome.decision.bay == 1
        clocks.advance(90)  # the window is bounded by the restart: it ends
        assert second.tap(CARD).decision.reason == Refusal.TOO_EARLY
    finally:
        second.hardware.close()
        db.dispose()
