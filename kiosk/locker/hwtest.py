"""``phonelocker hw-test``: pulse every output in turn and wait for a card.

For the person wiring the locker: each lock, LED and the buzzer is switched
on for a moment with a line saying which, door switches are read, then a
card is awaited. The kiosk must be stopped first (it holds the pins and the
reader). The locks end locked whatever happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hardware.reader import CardReader
from kiosk.config import Config
from kiosk.locker.daemon import build_hardware


def run_hw_test(
    config: Config,
    *,
    echo: Callable[[str], None],
    pulse_seconds: float = 1.0,
    card_seconds: float = 15.0,
    pin_factory=None,
) -> str | None:
    """Pulse outputs, report doors, wait for one card; return its UID or None."""
    hardware = build_hardware(config, pin_factory)
    try:
        for number, bay in sorted(hardware.bays.items()):
            echo(f"bay {number}: unlocking lock on pin {bay.lock.pin} for {pulse_seconds:g} s")
            bay.unlock(pulse_seconds)
            time.sleep(pulse_seconds + 0.1)
            echo(f"bay {number}: {'locked' if bay.locked else 'STILL UNLOCKED'}, "
                 f"door {bay.door_state}")
        for name in ("green", "red", "buzzer"):
            device = getattr(hardware, name)
            if device is None:
                echo(f"{name}: not configured")
                continue
            echo(f"{name}: on for {pulse_seconds:g} s (pin {device.pin})")
            device.on()
            time.sleep(pulse_seconds)
            device.off()
    finally:
        hardware.close()
    return _wait_for_card(config, echo, card_seconds)


def _wait_for_card(config: Config, echo, seconds: float) -> str | None:
    if seconds <= 0:
        return None
    seen: list[str] = []
    done = threading.Event()

    def on_tap(uid: str) -> None:
        seen.append(uid)
        done.set()

    def on_state(ok: bool, error: str | None) -> None:
        if not ok and error != "stopped":
            echo(f"reader: {error}")

    reader = CardReader(config.reader.device, on_tap, on_state=on_state)
    thread = threading.Thread(target=reader.run, daemon=True)
    echo(f"reader {config.reader.device}: tap a card within {seconds:g} s")
    thread.start()
    done.wait(seconds)
    reader.stop()
    thread.join(timeout=5)
    if seen:
        echo(f"card read: {seen[0]}")
        return seen[0]
    echo("no card read")
    return None
