"""The locker refuses an unlock pulse it could never end: the bay stays locked.

``threading.Timer(inf)`` dies in its own thread (OverflowError from the lock's
timeout) and never relocks; a nan or a billion seconds is as bad.
"""

from __future__ import annotations

import threading
import time

import pytest

from hardware.locker import BayPins, LockerHardware


@pytest.fixture
def hardware(mock_factory):
    locker = LockerHardware([BayPins(1, 17, 27)], pin_factory=mock_factory)
    yield locker
    locker.close()


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 1e9, 0, -1, True])
def test_absurd_unlock_is_refused_and_the_bay_stays_locked(hardware, mock_factory, seconds):
    threads = threading.active_count()
    with pytest.raises(ValueError, match="unlock for .* refused"):
        hardware.unlock(1, seconds)
    assert hardware.bays[1].locked
    assert mock_factory.pin(17).state is False
    assert threading.active_count() == threads  # no relock timer was started


def test_a_sane_unlock_still_opens_and_relocks(hardware, mock_factory):
    hardware.unlock(1, 0.1)
    assert not hardware.bays[1].locked
    deadline = time.monotonic() + 10
    while not hardware.bays[1].locked and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hardware.bays[1].locked
