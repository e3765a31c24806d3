"""The hardware layer refuses durations it could never end.

The locker: ``threading.Timer(inf)`` dies in its own thread (OverflowError
from the lock's timeout) and never relocks; a nan or a billion seconds is as
bad, so the bay stays locked. The virtual card: a nan hold reached nfcpy.
"""

from __future__ import annotations

import threading
import time

import pytest

from hardware.locker import BayPins, LockerHardware
from hardware.virtual_card import present_card


@pytest.fixture
def hardware(mock_factory):
    locker = LockerHardware([BayPins(1, 17, 27)], pin_factory=mock_factory)
    yield locker
    locker.close()


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 1e9, 0, -1, True])
def test_absurd_unlock_is_refused_and_the_bay_stays_locked(hardware, mock_factory, seconds):
    threads = threading.active_count()
    with pytest.raises(ValueError, match=r"unlock for .* refused"):
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


@pytest.mark.parametrize(("hold", "timeout"), [(float("nan"), 1.0), (float("inf"), 1.0),
                                               (0.5, float("nan")), (-1, 1.0), (0.5, 1e9)])
def test_virtual_card_refuses_a_hold_or_timeout_it_could_not_keep(hold, timeout):
    with pytest.raises(ValueError, match="must be a finite number of seconds"):
        present_card("04A1B2C3D4E5F6", hold=hold, timeout=timeout, path="udp:127.0.0.1:9")
