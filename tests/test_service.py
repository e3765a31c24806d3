"""The tap service on gpiozero's MockFactory: pins, records and failure paths."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kiosk.config import load_config
from kiosk.locker.daemon import build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.policy import Action
from kiosk.school.pupils import add_pupil, release_early
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Card, Event, Holding

from .conftest import write_config

LOCK, DOOR, GREEN, RED, BUZZER = 17, 27, 22, 23, 24
UNLOCK = 0.3
AMARA, HARRY = "04A1B2C3D4E5F6", "04F60718293A4B"


#: how late a timer may fire on a loaded 2-core machine (gpiozero's own check allows 0.05 s)
LATE = 0.5
#: how early: clock granularity only (a timer never fires before it is due)
EARLY = 0.02


def wait_for_states(pin, count: int, timeout: float = 10.0) -> list:
    """The pin's states once it has changed ``count - 1`` times (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while len(pin.states) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(pin.states)


def assert_pin(pin, expected, *, first_change_after_io: bool = True):
    """The pin went through exactly the ``expected`` (seconds, state) list, in order.

    It waits for the states rather than sleeping a fixed time, because a timer
    on a busy machine fires late. Each state must have been held at least as
    long as expected and at most ``LATE`` longer: enough to tell a 0.1 s beep
    from a 0.8 s one, not a claim about milliseconds. When the first change
    follows database work (a tap commits before it opens), its delay depends
    on machine load, so that one is not timed.
    """
    states = wait_for_states(pin, len(expected))
    assert [s.state for s in states] == [state for _, state in expected], states
    for index, (actual, (seconds, _)) in enumerate(zip(states, expected, strict=True)):
        if index == 0 or (index == 1 and first_change_after_io):
            continue
        assert seconds - EARLY <= actual.timestamp <= seconds + LATE, (index, states)


class Clock:
    """A settable clock for the service; pin timing still uses real time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def setup(tmp_path, mock_factory):
    opened = []

    def make(extra: str = "", start: str = "2026-11-30T08:40:00+00:00"):
        path = write_config(
            tmp_path,
            f"[locker]\nunlock_seconds = {UNLOCK}\n"
            f"[[locker.bays]]\nnumber = 1\nlock_pin = {LOCK}\ndoor_pin = {DOOR}\n"
            '[policy]\ncollect_from = "15:15"\n' + extra,
        )
        config = load_config(path)
        db = Database(config.database.url)
        db.upgrade()
        register_locker(db, config)
        with db.session() as session:
            amara = add_pupil(session, name="Amara", year=6, class_name="6K", card_uid=AMARA,
                              actor="test")
            add_pupil(session, name="Harry", year=4, class_name="4R", card_uid=HARRY, actor="test")
            session.commit()
            amara_id = amara.id
        clock = Clock(datetime.fromisoformat(start))
        hardware = build_hardware(
            config, mock_factory, on_forced=lambda bay: service.forced_door(bay),  # noqa: PLW0108 - service comes next
        )
        service = KioskService(config, db, hardware, clock=clock)
        opened.append((hardware, db))
        for pin in (LOCK, GREEN, RED, BUZZER):
            mock_factory.pin(pin).clear_states()
        return service, clock, db, amara_id

    yield make
    for hardware, db in opened:
        hardware.close()
        db.dispose()


def events(db, kind=None):
    with db.session() as session:
        query = select(Event).order_by(Event.id)
        if kind:
            query = query.where(Event.kind == kind)
        return list(session.scalars(query))


def test_deposit_records_then_pulses_lock_and_relocks(setup, mock_factory):
    service, _clock, db, amara_id = setup()
    outcome = service.tap(AMARA)
    assert outcome.decision.action is Action.DEPOSIT
    # The event and the holding were committed before tap() returned.
    deposit = events(db, "deposit")[0]
    assert deposit.pupil_id == amara_id and deposit.bay == 1 and deposit.card_uid == AMARA
    with db.session() as session:
        assert session.get(Holding, amara_id).bay == 1
    assert_pin(mock_factory.pin(LOCK), [(0.0, False), (0.0, True), (UNLOCK, False)])
    assert mock_factory.pin(GREEN).states[1].state is True
    assert mock_factory.pin(RED).states == mock_factory.pin(RED).states[:1]


def test_refusal_keeps_locked_red_light_long_beep(setup, mock_factory):
    service, _clock, db, _ = setup()
    outcome = service.tap(HARRY)
    assert outcome.decision.action is Action.REFUSE
    assert events(db, "refused")[0].reason == "year_not_allowed"
    assert_pin(mock_factory.pin(BUZZER), [(0.0, False), (0.0, True), (0.8, False)])
    assert_pin(mock_factory.pin(RED), [(0.0, False), (0.0, True)])
    assert_pin(mock_factory.pin(LOCK), [(0.0, False)])  # after the beep: it never opened


def test_green_feedback_is_a_short_beep(setup, mock_factory):
    service, *_ = setup()
    service.tap(AMARA)
    assert_pin(mock_factory.pin(BUZZER), [(0.0, False), (0.0, True), (0.1, False)])


def test_unknown_card_refused_and_recorded(setup, mock_factory):
    service, _clock, db, _ = setup()
    service.tap("DEADBEEF")
    refused = events(db, "refused")[0]
    assert refused.card_uid == "DEADBEEF" and refused.pupil_id is None
    assert refused.reason == "unknown_card"
    assert_pin(mock_factory.pin(LOCK), [(0.0, False)])


def test_collect_refused_before_time_then_allowed_after(setup, mock_factory):
    service, clock, db, amara_id = setup(extra="grace_seconds = 0\n")
    service.tap(AMARA)
    clock.advance(3600)
    early = service.tap(AMARA)
    assert early.decision.action is Action.REFUSE and early.decision.reason == "too_early"
    clock.now = datetime(2026, 11, 30, 15, 16, tzinfo=UTC)
    late = service.tap(AMARA)
    assert late.decision.action is Action.COLLECT
    with db.session() as session:
        assert session.get(Holding, amara_id) is None
    assert [e.kind for e in events(db) if e.card_uid == AMARA and e.kind != "enrol"] == [
        "deposit", "refused", "collect"]


def test_early_release_lets_pupil_collect(setup):
    service, clock, db, amara_id = setup(extra="grace_seconds = 0\n")
    service.tap(AMARA)
    with db.session() as session:
        from kiosk.school.pupils import get_pupil

        release_early(session, get_pupil(session, amara_id), by="Office", reason="dentist",
                      on_date=clock.now.date())
        session.commit()
    clock.advance(7200)
    outcome = service.tap(AMARA)
    assert outcome.decision.action is Action.COLLECT
    assert events(db, "collect")[0].reason == "early_release"


def test_repeat_tap_in_grace_reopens_without_changing_state(setup, mock_factory):
    service, clock, db, _amara_id = setup()
    service.tap(AMARA)
    wait_for_states(mock_factory.pin(LOCK), 3)  # relocked
    clock.advance(10)  # past debounce, inside grace
    outcome = service.tap(AMARA)
    assert outcome.decision.action is Action.REOPEN
    states = [s.state for s in wait_for_states(mock_factory.pin(LOCK), 5)]
    assert states == [False, True, False, True, False]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Holding)) == 1
    assert len(events(db, "deposit")) == 1
    assert events(db, "reopen")[0].reason == "repeat deposit"


def test_debounced_tap_is_ignored_and_not_recorded(setup, mock_factory):
    service, clock, db, _ = setup()
    service.tap(AMARA)
    clock.advance(1)
    outcome = service.tap(AMARA)
    assert outcome.decision.action is Action.IGNORE
    assert len(events(db, "deposit")) == 1 and not events(db, "reopen")


def test_lock_stays_locked_when_recording_fails(setup, mock_factory, monkeypatch):
    service, _clock, db, _ = setup()

    def disk_full(*_args, **_kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("kiosk.store.events.insert_event", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        service.tap(AMARA)
    monkeypatch.undo()
    assert_pin(mock_factory.pin(LOCK), [(0.0, False)])
    assert not events(db, "deposit")  # nothing half-written
    assert mock_factory.pin(RED).states[-1].state is True  # the pupil sees a refusal


def test_close_locks_even_mid_pulse(setup, mock_factory):
    service, *_ = setup()
    service.tap(AMARA)
    assert mock_factory.pin(LOCK).state is True
    service.hardware.close()
    assert_pin(mock_factory.pin(LOCK), [(0.0, False), (0.0, True), (0.0, False)])
    service.hardware.close()  # idempotent


def test_active_low_relay_inverts_the_pin(tmp_path, mock_factory):
    path = write_config(
        tmp_path, "[gpio]\nlock_active_high = false\n[locker]\nunlock_seconds = 0.2\n"
    )
    hardware = build_hardware(load_config(path), mock_factory)
    pin = mock_factory.pin(17)
    pin.clear_states()
    assert pin.state is True  # de-energised relay on an active-low board: locked
    hardware.unlock(1, 0.2)
    assert_pin(pin, [(0.0, True), (0.0, False), (0.2, True)], first_change_after_io=False)
    hardware.close()


def test_door_shut_after_opening_relocks_early(setup, mock_factory):
    service, *_ = setup()
    door = mock_factory.pin(DOOR)
    door.drive_low()  # shut
    service.tap(AMARA)
    door.drive_high()  # pupil opens the door
    door.drive_low()  # and shuts it
    states = wait_for_states(mock_factory.pin(LOCK), 3)
    assert [s.state for s in states] == [False, True, False]
    # relocked by the door, not by the timer: before the pulse would have ended
    assert states[2].timestamp < UNLOCK


def test_door_opened_while_locked_is_recorded_as_forced(setup, mock_factory):
    _service, _clock, db, _ = setup()
    door = mock_factory.pin(DOOR)
    door.drive_low()
    door.drive_high()  # opened with the lock locked
    time.sleep(0.1)
    forced = events(db, Kind.FORCED_DOOR.value)
    assert len(forced) == 1 and forced[0].bay == 1


def test_override_records_first_then_unlocks_all(setup, mock_factory):
    service, clock, db, _ = setup()
    result = service.override(actor="office", reason="fire drill", bay=None, seconds=0.2,
                              now=clock())
    assert "unlocked" in result
    override = events(db, "override")[0]
    assert override.actor == "office" and override.reason == "fire drill" and override.bay is None
    assert_pin(mock_factory.pin(LOCK), [(0.0, False), (0.0, True), (0.2, False)])


def test_enrolment_assigns_next_card_and_does_not_deposit(setup, mock_factory):
    service, clock, db, amara_id = setup()
    service.begin_enrolment(command_id=1, pupil_id=amara_id, actor="office", now=clock())
    outcome = service.tap("04AABBCCDDEEFF")
    assert outcome.enrolled
    finished = service.finish_enrolment(clock())
    assert finished.ok and finished.result == "card 04AABBCCDDEEFF assigned to Amara"
    with db.session() as session:
        cards = session.scalars(select(Card).where(Card.pupil_id == amara_id)).all()
    assert {(c.uid, c.active) for c in cards} == {(AMARA, False), ("04AABBCCDDEEFF", True)}
    assert not events(db, "deposit")
    assert_pin(mock_factory.pin(LOCK), [(0.0, False)])
    # The replaced card is refused from now on.
    clock.advance(5)
    assert service.tap(AMARA).decision.reason == "card_revoked"


def test_taps_by_other_cards_during_an_enrolment_go_on_as_usual(setup, mock_factory):
    # The office enrols Harry's new card while the morning queue goes on.
    service, clock, db, amara_id = setup()
    with db.session() as session:
        harry_id = session.scalars(select(Card.pupil_id).where(Card.uid == HARRY)).one()
    service.begin_enrolment(command_id=1, pupil_id=harry_id, actor="office", now=clock())

    amara = service.tap(AMARA)  # her own card: a hand-in, not Harry's new card
    phone = service.tap("08A1B2C3")  # a phone: refused, not enrolled
    assert (amara.decision.action, amara.enrolled) == (Action.DEPOSIT, False)
    assert phone.decision.reason == "random_uid" and not phone.enrolled
    assert service.finish_enrolment(clock()) is None  # still waiting for Harry's card
    assert len(events(db, "deposit")) == 1

    clock.advance(3)
    assert service.tap("04AABBCCDDEEFF").enrolled
    finished = service.finish_enrolment(clock())
    assert finished.ok and finished.result == "card 04AABBCCDDEEFF assigned to Harry"
    with db.session() as session:
        owners = dict(session.execute(select(Card.uid, Card.pupil_id).where(Card.active)).all())
    assert owners == {AMARA: amara_id, "04AABBCCDDEEFF": harry_id}


def test_enrolment_expires_with_no_card(setup):
    service, clock, _db, amara_id = setup()
    service.begin_enrolment(command_id=1, pupil_id=amara_id, actor="office", now=clock())
    assert service.finish_enrolment(clock()) is None  # still waiting
    clock.advance(61)
    finished = service.finish_enrolment(clock())
    assert not finished.ok and finished.result == "no card tapped"


def test_enrolment_gives_the_card_uid_as_data_not_in_its_message(setup):
    # The daemon records the enrolled card on the command from this field.
    service, clock, _db, amara_id = setup()
    service.begin_enrolment(command_id=1, pupil_id=amara_id, actor="office", now=clock())
    service.tap("04AABBCCDDEEFF")
    assert service.finish_enrolment(clock()).card_uid == "04AABBCCDDEEFF"
    service.begin_enrolment(command_id=2, pupil_id=amara_id, actor="office", now=clock())
    clock.advance(61)
    assert service.finish_enrolment(clock()).card_uid is None


def test_an_ignored_tap_does_not_replace_the_last_tap_shown(setup):
    # The locker screen and the lockers panel keep showing the hand-in, not "ignore".
    service, clock, _db, _ = setup()
    service.tap(AMARA)
    first = service.last_tap
    clock.advance(1)  # within debounce_seconds: the card is still on the reader
    assert service.tap(AMARA).decision.action is Action.IGNORE
    assert service.last_tap == first and first[2] == "deposit"


def test_debounce_memory_is_pruned(setup):
    service, clock, db, _ = setup()
    for n in range(300):  # phones and bank cards: a new random ID at every tap
        service.tap(f"08{n:06X}")
        clock.advance(0.5)
    assert len(service._previous_tap) <= 257
    assert len(events(db, "refused")) == 300
