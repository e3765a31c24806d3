"""``phonelocker kiosk``: the reader loop, the command loop and the heartbeat.

Two threads: the reader thread (nfcpy, blocking) calls the service on each
tap; the main thread claims commands every ``POLL_SECONDS``, writes the
heartbeat every ``HEARTBEAT_SECONDS`` and feeds systemd's watchdog only
while both threads show signs of life. Whatever ends the loop (SIGTERM,
SIGINT, an exception), :meth:`Kiosk.close` locks every bay.

The heartbeat (the ``kiosk_status`` row, one writer at a time) is
:mod:`kiosk.locker.heartbeat`.

When a database write fails (disk full, read-only, I/O error) the kiosk keeps
refusing taps (nothing opens unrecorded); what it shows and logs meanwhile is
:mod:`kiosk.locker.write_faults`, and it all clears by itself once writes work.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, func, select

from hardware.locker import BayPins, LockerHardware
from hardware.pins import make_pin_factory
from hardware.reader import CardReader
from kiosk.config import Config
from kiosk.errors import ActionError
from kiosk.locker.clock import ClockGuard
from kiosk.locker.heartbeat import Heartbeat
from kiosk.locker.sdnotify import notify, watchdog_interval
from kiosk.locker.stopping import StopSignal
from kiosk.locker.tap import SCHOOL_DAY_REFRESH, KioskService
from kiosk.locker.write_faults import WriteFaults
from kiosk.school import commands as command_table
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Bay, Event, Locker, Pupil
from kiosk.timeutil import as_aware, aware_utc_now, naive_utc

log = logging.getLogger(__name__)

_ANY_PENDING = (
    select(command_table.Command.id)
    .where(
        command_table.Command.status == "pending",
        (command_table.Command.locker_id == bindparam("locker"))
        | command_table.Command.locker_id.is_(None),
    )
    .limit(1)
)

#: commands must be carried out within a second; half that keeps idle CPU low
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0
#: the reader loop must have shown life this recently for the watchdog to be fed
READER_STALL_SECONDS = 20.0


def build_hardware(config: Config, pin_factory=None, on_forced=None) -> LockerHardware:
    """Open the locker's GPIO devices from the config (or on the given pin factory)."""
    factory = pin_factory or make_pin_factory(config.gpio.pin_factory)
    return LockerHardware(
        [BayPins(b.number, b.lock_pin, b.door_pin) for b in config.locker.bays],
        pin_factory=factory,
        active_high=config.gpio.lock_active_high,
        green_pin=config.gpio.green_led_pin,
        red_pin=config.gpio.red_led_pin,
        buzzer_pin=config.gpio.buzzer_pin,
        on_forced=on_forced,
    )


def newest_event_time(db: Database) -> datetime | None:
    """The newest recorded event time (aware UTC): the clock must not be behind it."""
    with db.session() as session:
        newest = session.scalar(select(func.max(Event.at)))
    return as_aware(newest)


def register_locker(db: Database, config: Config) -> None:
    """Make the lockers/bays tables match this kiosk's config."""
    with db.session() as session:
        locker = session.get(Locker, config.locker.id)
        if locker is None:
            locker = Locker(id=config.locker.id, name=config.locker.name)
            session.add(locker)
        locker.name = config.locker.name
        have = {bay.number for bay in locker.bays}
        for bay in config.locker.bays:
            if bay.number not in have:
                locker.bays.append(Bay(number=bay.number))
        session.commit()


class Kiosk:
    """One locker's kiosk process: hardware, reader, service and loops."""

    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        pin_factory=None,
        clock=aware_utc_now,
        clock_guard: ClockGuard | None = None,
    ) -> None:
        self.config = config
        self.db = db
        #: set by SIGTERM/SIGINT (in a signal handler) or stop(); see kiosk.locker.stopping
        self.stop_event = StopSignal()
        self.clock = clock
        self.clock_guard = clock_guard or ClockGuard(
            check_sync=config.clock.check_sync, newest_recorded=newest_event_time(db)
        )
        self.started_at = clock()
        self.hardware = build_hardware(config, pin_factory, on_forced=self._on_forced)
        if pin_factory is None:
            self.hardware.close_doors_if_emulated()
        self.service = KioskService(
            config, db, self.hardware, clock=clock, clock_suspect=self.clock_guard.suspect,
            rebase_recorded=self.clock_guard.rebase,
        )
        self.reader = CardReader(config.reader.device, self._on_tap, on_state=self._on_reader_state)
        self._reader_thread: threading.Thread | None = None
        self.loop_alive = time.monotonic()
        self.stall_seconds = READER_STALL_SECONDS
        self._closed = False
        self.faults = WriteFaults(config, self.hardware, self.reader, clock)
        #: with ``[central] url``: the thread that keeps this kiosk in step with the school
        self.sync = None
        if config.central is not None:  # imported only then: a standalone kiosk stays small
            from kiosk.sync.worker import SyncWorker

            self.sync = SyncWorker(config, db, clock=clock)
        self.heartbeat = Heartbeat(
            config, db, hardware=self.hardware, reader=self.reader, service=self.service,
            clock_guard=self.clock_guard, clock=clock, started_at=self.started_at,
            failed=lambda error: self.faults.failed("heartbeat", error),
            worked=lambda: self.faults.worked("heartbeat"),
            sync=self.sync.report if self.sync else None,
        )

    # --- callbacks from other threads ------------------------------------------

    def _on_tap(self, uid: str) -> None:
        try:
            outcome = self.service.tap(uid)
        except Exception as error:
            self.faults.failed("events", error)  # refused, locks shut; the service logged it
            raise
        else:
            if outcome.event_id is not None:
                self.faults.worked("events")
        finally:
            self.heartbeat.write()  # the dashboard sees the tap now, not at the next beat

    def _on_forced(self, bay: int) -> None:
        self.service.forced_door(bay)

    def _on_reader_state(self, ok: bool, error: str | None) -> None:
        if error == "stopped":
            return
        self.hardware.set_fault(not ok)
        try:
            with self.db.session() as session:
                record_event(
                    session, Kind.READER_OK if ok else Kind.READER_FAULT,
                    locker_id=self.config.locker.id, reason=error or self.config.reader.device,
                )
                session.commit()
        except Exception as error:
            if not self.faults.failed("events", error):
                log.exception("could not record reader state")
        else:
            self.faults.worked("events")
        self.heartbeat.write()  # the dashboard sees the reader come up or fail now

    # --- main loop ---------------------------------------------------------------

    def start(self) -> None:
        register_locker(self.db, self.config)
        try:
            with self.db.session() as session:
                record_event(
                    session, Kind.KIOSK_STARTED, at=naive_utc(self.clock()),
                    locker_id=self.config.locker.id,
                    reason=f"reader {self.config.reader.device}, "
                           f"pins {self.config.gpio.pin_factory}",
                )
                session.commit()
        except Exception as error:
            # Restarted on a full disk: run (refusing taps, saying why) rather than
            # exit and be restarted every 2 s with no status file and no red flash.
            if not self.faults.failed("events", error):
                raise
        self._reader_thread = threading.Thread(
            target=self.reader.run, args=(self.stop_event,), name="reader", daemon=True
        )
        self._reader_thread.start()
        if self.sync is not None:
            self.sync.start()
        self.heartbeat.write()
        notify("READY=1")
        log.info("kiosk %s ready", self.config.locker.id)

    def run(self) -> None:
        """Run until :meth:`stop`; always locks up on the way out."""
        try:
            self.start()
            watchdog = watchdog_interval()
            next_heartbeat = next_watchdog = time.monotonic()
            while not self.stop_event.wait(POLL_SECONDS):
                self.loop_alive = time.monotonic()
                try:
                    self.poll_commands()
                except Exception as error:
                    if not self.faults.failed("commands", error):
                        raise  # a bug: exit (locked) and let systemd restart the kiosk
                else:
                    self.faults.worked("commands")
                if time.monotonic() >= next_heartbeat:
                    self.heartbeat.write()
                    self.faults.report()
                    next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
                if watchdog and time.monotonic() >= next_watchdog:
                    if self.healthy():
                        notify("WATCHDOG=1")
                    else:
                        log.error("reader loop stalled: not feeding the watchdog")
                    next_watchdog = time.monotonic() + watchdog
        finally:
            self.close()

    def healthy(self) -> bool:
        """Both loops alive: what the watchdog is fed on."""
        now = time.monotonic()
        reader_alive = now - self.reader.last_alive < self.stall_seconds
        thread_alive = self._reader_thread is not None and self._reader_thread.is_alive()
        return reader_alive and thread_alive and now - self.loop_alive < self.stall_seconds

    def stop(self) -> None:
        """Ask :meth:`run` to return (locking up). Safe from a signal handler or any thread."""
        self.stop_event.set()

    def poll_commands(self) -> None:
        now = self.clock()
        # "school closing early" reaches the tap path within a second or two
        self.service.refresh_school_day(older_than=SCHOOL_DAY_REFRESH)
        if self.service.enrolment.pending is None:
            with self.db.engine.connect() as connection:
                pending = connection.execute(_ANY_PENDING, {"locker": self.config.locker.id})
                if pending.first() is None:
                    return  # the usual case: one indexed lookup, no ORM
        with self.db.session() as session:
            live = command_table.claim(session, self.config.locker.id, naive_utc(now))
            session.commit()
            for command in live:
                self._carry_out(session, command, now)
                session.commit()
        if live:
            self.heartbeat.write()
        finished = self.service.finish_enrolment(self.clock())
        if finished is not None:
            with self.db.session() as session:
                command = session.get(command_table.Command, finished.command_id)
                if command is not None:
                    command_table.finish(
                        command, "done" if finished.ok else "failed", finished.result,
                        naive_utc(self.clock()),
                    )
                    if finished.ok:
                        command.card_uid = finished.card_uid
                    session.commit()

    def _carry_out(self, session, command, now: datetime) -> None:
        try:
            if command.kind == "unlock":
                seconds = command.seconds or command_table.DEFAULT_UNLOCK_SECONDS
                result = self.service.override(
                    actor=command.actor, reason=command.reason or "", bay=command.bay,
                    seconds=seconds, now=now,
                )
                command_table.finish(command, "done", result, naive_utc(now))
            elif command.kind == "enrol":
                pupil = session.get(Pupil, command.pupil_id) if command.pupil_id else None
                if pupil is None:
                    raise ActionError("no such pupil")
                command.locker_id = self.config.locker.id
                self.service.begin_enrolment(command.id, pupil.id, command.actor, now)
                command.result = "waiting for a card"
            else:
                raise ActionError(f"unknown command {command.kind!r}")
        except ActionError as error:
            command_table.finish(command, "failed", str(error), naive_utc(now))
        except Exception as error:
            log.exception("command %d failed", command.id)
            command_table.finish(command, "failed", f"kiosk error: {error}", naive_utc(now))

    # --- database write faults (disk full): kiosk.locker.write_faults ----------------

    @property
    def write_faults(self) -> dict[str, str]:
        """Failing database writes by kind ("events", "heartbeat", "commands") -> problem."""
        return self.faults.faults

    @property
    def status_file(self) -> Path:
        """Where the true state is written while database writes fail."""
        return self.faults.status_file

    def close(self) -> None:
        """Lock everything, stop the reader, mark the kiosk offline. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop_event.set()
        self.hardware.close()  # first: the locks matter more than the bookkeeping
        log.info("kiosk %s stopping: locked", self.config.locker.id)
        notify("STOPPING=1")
        if self._reader_thread is not None:
            self._reader_thread.join(timeout=3)
        if self.sync is not None:
            self.sync.stop(timeout=3)
        self.heartbeat.write()
        try:
            with self.db.session() as session:
                self.heartbeat.mark_stopped(session, self.clock())
                record_event(session, Kind.KIOSK_STOPPED, at=naive_utc(self.clock()),
                             locker_id=self.config.locker.id)
                session.commit()
        except Exception:
            log.exception("could not record the kiosk stopping")
        self.stop_event.close()

