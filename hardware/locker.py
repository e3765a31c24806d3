"""The locker's outputs and inputs on gpiozero: a lock per bay, door sensors, LEDs, buzzer.

Fail secure: every lock pin starts de-energised (locked), is energised only
for an unlock pulse, and is driven locked again by :meth:`LockerHardware.close`
whatever happened before. The relay wiring guide (``hardware/README.md``)
adds a pull-down so an undriven pin is locked too.

Door sensors are reed switches to ground with the internal pull-up: the
magnet near (door shut) closes the switch and reads as "pressed".
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gpiozero import LED, Button, Buzzer, DigitalOutputDevice, Factory, GPIOZeroError

from hardware.errors import GPIOUnavailable

log = logging.getLogger(__name__)

GOOD_FEEDBACK = (1.0, 0.1)  # LED seconds, beep seconds
BAD_FEEDBACK = (1.5, 0.8)
#: the longest unlock pulse asked for anywhere (the CLI's override allows 600 s)
MAX_UNLOCK_SECONDS = 600.0
#: red LED (on, off) seconds: a slow blink for a reader fault...
READER_FAULT_BLINK = (0.2, 1.8)
#: ...and a fast flash when taps cannot be recorded (disk full): every tap is refused
CANNOT_RECORD_BLINK = (0.25, 0.25)


@dataclass(frozen=True)
class BayPins:
    number: int
    lock_pin: int | str
    door_pin: int | str | None = None


class Bay:
    """One compartment: a solenoid lock on a relay and an optional door switch."""

    def __init__(
        self,
        pins: BayPins,
        *,
        pin_factory: Factory,
        active_high: bool,
        on_forced: Callable[[int], None] | None = None,
    ) -> None:
        self.number = pins.number
        self._mutex = threading.RLock()
        self._relock_timer: threading.Timer | None = None
        self._opened_during_unlock = False
        self._on_forced = on_forced
        self.lock = DigitalOutputDevice(
            pins.lock_pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )
        self.door: Button | None = None
        if pins.door_pin is not None:
            self.door = Button(pins.door_pin, pull_up=True, pin_factory=pin_factory)
            self.door.when_released = self._door_opened
            self.door.when_pressed = self._door_closed

    @property
    def locked(self) -> bool:
        return not self.lock.value

    @property
    def door_state(self) -> str:
        """``open``, ``closed`` or ``unknown`` (no sensor fitted)."""
        if self.door is None:
            return "unknown"
        return "closed" if self.door.is_pressed else "open"

    def unlock(self, seconds: float) -> None:
        """Energise the lock now and relock after ``seconds`` (or when the door shuts).

        ``seconds`` must be finite and in 0..MAX_UNLOCK_SECONDS, else ValueError and
        the lock is not touched: ``threading.Timer(inf)`` dies in its thread
        (OverflowError from the lock's timeout) and would never relock.
        """
        if (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                or not math.isfinite(seconds) or not 0 < seconds <= MAX_UNLOCK_SECONDS):
            raise ValueError(f"bay {self.number}: unlock for {seconds!r} s refused "
                             f"(0 to {MAX_UNLOCK_SECONDS:g} s)")
        with self._mutex:
            self._cancel_timer()
            self._opened_during_unlock = False
            timer = threading.Timer(seconds, self._relock_from_timer)
            timer.daemon = True
            self.lock.on()
            try:
                timer.start()
            except BaseException:  # no thread, no relock: fail secure, now
                self.lock.off()
                raise
            self._relock_timer = timer

    def _relock_from_timer(self) -> None:
        try:
            self.relock()
        except Exception:  # a relock that fails must be loud, and try the pin once more
            log.exception("bay %d: relock failed; driving the lock off again", self.number)
            self.lock.off()

    def relock(self) -> None:
        with self._mutex:
            self._cancel_timer()
            self.lock.off()

    def _cancel_timer(self) -> None:
        if self._relock_timer is not None:
            self._relock_timer.cancel()
            self._relock_timer = None

    def _door_opened(self) -> None:
        with self._mutex:
            if self.locked:
                log.warning("bay %d: door opened while locked", self.number)
                if self._on_forced is not None:
                    self._on_forced(self.number)
            else:
                self._opened_during_unlock = True

    def _door_closed(self) -> None:
        # The phone is in (or out) and the door is shut: no need to wait out the pulse.
        with self._mutex:
            if not self.locked and self._opened_during_unlock:
                self.relock()

    def close(self) -> None:
        with self._mutex:
            self._cancel_timer()
            if self.lock.closed:
                return
            try:
                self.lock.off()
            finally:
                self.lock.close()
                if self.door is not None:
                    self.door.close()


class LockerHardware:
    """All the GPIO devices of one locker, opened from pin numbers."""

    def __init__(
        self,
        bays: Iterable[BayPins],
        *,
        pin_factory: Factory,
        active_high: bool = True,
        green_pin: int | str | None = None,
        red_pin: int | str | None = None,
        buzzer_pin: int | str | None = None,
        on_forced: Callable[[int], None] | None = None,
    ) -> None:
        self.pin_factory = pin_factory
        self.bays: dict[int, Bay] = {}
        self._fault = False
        self._cannot_record = False
        self.closed = False
        self.green = self.red = self.buzzer = None
        try:
            for pins in bays:
                self.bays[pins.number] = Bay(
                    pins, pin_factory=pin_factory, active_high=active_high, on_forced=on_forced
                )
            if green_pin is not None:
                self.green = LED(green_pin, pin_factory=pin_factory)
            if red_pin is not None:
                self.red = LED(red_pin, pin_factory=pin_factory)
            if buzzer_pin is not None:
                self.buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
        except (GPIOZeroError, OSError, RuntimeError) as error:
            self.close()
            raise GPIOUnavailable(f"cannot open a GPIO pin: {error}") from error

    def close_doors_if_emulated(self) -> None:
        """On gpiozero's MockFactory, start with every door shut (reed switch closed)."""
        from gpiozero.pins.mock import MockFactory

        if isinstance(self.pin_factory, MockFactory):
            for bay in self.bays.values():
                if bay.door is not None:
                    bay.door.pin.drive_low()

    def unlock(self, bay: int, seconds: float) -> None:
        self.bays[bay].unlock(seconds)

    def unlock_all(self, seconds: float) -> None:
        for bay in self.bays.values():
            bay.unlock(seconds)

    def relock_all(self) -> None:
        for bay in self.bays.values():
            bay.relock()

    def _signal(self, led: LED | None, led_seconds: float, beep_seconds: float) -> None:
        if self.closed:
            return
        if led is not None:
            led.blink(on_time=led_seconds, off_time=0, n=1)
        if self.buzzer is not None:
            self.buzzer.beep(on_time=beep_seconds, off_time=0, n=1)

    def accept(self) -> None:
        """Green light and a short beep."""
        self._signal(self.green, *GOOD_FEEDBACK)

    def refuse(self) -> None:
        """Red light and a long beep."""
        self._signal(self.red, *BAD_FEEDBACK)
        if self._fault or self._cannot_record:
            self._show_fault()

    def set_fault(self, fault: bool) -> None:
        """Blink the red LED slowly while the reader (or anything else) is faulty."""
        if fault == self._fault or self.closed:
            return
        self._fault = fault
        self._show_fault()

    def set_cannot_record(self, cannot: bool) -> None:
        """Flash the red LED fast while taps cannot be recorded (database write fails)."""
        if cannot == self._cannot_record or self.closed:
            return
        self._cannot_record = cannot
        self._show_fault()

    def _show_fault(self) -> None:
        if self.red is None:
            return
        if self._cannot_record:  # the more serious: no tap can work at all
            on_time, off_time = CANNOT_RECORD_BLINK
        elif self._fault:
            on_time, off_time = READER_FAULT_BLINK
        else:
            self.red.off()
            return
        self.red.blink(on_time=on_time, off_time=off_time)

    def snapshot(self) -> dict:
        """Lock, door and light states, for the heartbeat."""
        if self.closed:
            bays = [{"bay": n, "locked": True, "door": "unknown"} for n in sorted(self.bays)]
            return {
                "bays": bays, "leds": {}, "fault": self._fault,
                "cannot_record": self._cannot_record,
            }
        return {
            "bays": [
                {"bay": n, "locked": bay.locked, "door": bay.door_state}
                for n, bay in sorted(self.bays.items())
            ],
            "leds": {
                "green": bool(self.green.value) if self.green else None,
                "red": bool(self.red.value) if self.red else None,
                "buzzer": bool(self.buzzer.value) if self.buzzer else None,
            },
            "fault": self._fault,
            "cannot_record": self._cannot_record,
        }

    def close(self) -> None:
        """Lock every bay and release the pins. Safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        for bay in list(self.bays.values()):
            try:
                bay.close()
            except Exception:  # keep locking the other bays whatever happens
                log.exception("bay %d: error while closing", bay.number)
        for device in (self.green, self.red, self.buzzer):
            if device is not None:
                try:
                    device.close()
                except Exception:
                    log.exception("error closing %r", device)
