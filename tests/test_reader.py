"""The card reader on nfcpy's real udp driver, with a virtual card playing the card side."""

from __future__ import annotations

import errno
import socket
import threading
import time

import nfc.clf.udp
import pytest

from hardware.errors import NoReaderAnswered, ReaderUnavailable
from hardware.reader import CardReader
from hardware.virtual_card import present_card
from kiosk.devtools.ports import free_port


class RunningReader:
    """A CardReader in a thread, recording taps and state changes."""

    def __init__(self, path: str, on_tap=None, **kwargs) -> None:
        self.taps: list[str] = []
        self.states: list[tuple[bool, str | None]] = []
        self.on_tap = on_tap
        self.reader = CardReader(path, self._tap, on_state=self._state, **kwargs)
        self.thread = threading.Thread(target=self.reader.run, daemon=True)

    def _tap(self, uid: str) -> None:
        self.taps.append(uid)
        if self.on_tap:
            self.on_tap(uid)

    def _state(self, ok: bool, error: str | None) -> None:
        self.states.append((ok, error))

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; states={self.states}"
            time.sleep(0.02)

    def start(self) -> None:
        if not self.thread.is_alive():
            self.thread.start()

    def __enter__(self):
        self.start()
        self.wait_for(lambda: self.reader.ok)
        return self

    def __exit__(self, *exc):
        self.reader.stop()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "the reader did not stop"


@pytest.fixture
def path() -> str:
    return f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}"


@pytest.mark.parametrize(
    "uid", ["04A1B2C3D4E5F6", "1A2B3C4D", "04112233445566778899", "08123456"],
    ids=["7-byte", "4-byte", "10-byte", "random-4-byte"],
)
def test_virtual_card_is_read_as_upper_hex(path, uid):
    with RunningReader(path) as running:
        present_card(uid.lower(), hold=0.2, path=path)
        running.wait_for(lambda: running.taps)
    assert running.taps == [uid]


def test_card_held_on_the_reader_is_read_once(path):
    with RunningReader(path) as running:
        present_card("04A1B2C3D4E5F6", hold=2.5, path=path)
        time.sleep(1.5)  # the reader would have re-sensed a present card by now
    assert running.taps == ["04A1B2C3D4E5F6"]


def test_cards_tapped_one_after_another_are_each_read(path):
    uids = ["04A1B2C3D4E5F6", "1A2B3C4D", "04B2C3D4E5F607"]
    with RunningReader(path) as running:
        for uid in uids:
            present_card(uid, hold=0.1, path=path)
        running.wait_for(lambda: len(running.taps) == 3)
    assert running.taps == uids


def test_reader_fault_closes_backs_off_reopens_and_reads_again(path, monkeypatch):
    real_sense = nfc.clf.udp.Device.sense_tta
    failures = {"left": 2}
    closes = []
    real_close = nfc.clf.udp.Device.close

    def flaky_sense(self, target):
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(errno.ENODEV, "No such device")
        return real_sense(self, target)

    def counting_close(self):
        closes.append(self)
        return real_close(self)

    monkeypatch.setattr(nfc.clf.udp.Device, "sense_tta", flaky_sense)
    monkeypatch.setattr(nfc.clf.udp.Device, "close", counting_close)
    running = RunningReader(path, backoff_initial=0.05, backoff_max=0.2)
    running.start()
    running.wait_for(lambda: failures["left"] == 0 and running.reader.ok)
    with running:
        present_card("04A1B2C3D4E5F6", hold=0.2, path=path)
        running.wait_for(lambda: running.taps)
    assert running.taps == ["04A1B2C3D4E5F6"]
    faults = [state for state in running.states if state[0] is False and state[1] != "stopped"]
    assert faults, "the fault was reported"
    assert "No such device" in faults[0][1] or "stopped responding" in faults[0][1]
    assert len(closes) >= 2, "the faulty reader was closed before reopening"


def test_unexpected_exception_in_driver_is_a_fault_not_a_crash(path, monkeypatch):
    real_sense = nfc.clf.udp.Device.sense_tta
    failures = {"left": 1}

    def vanishing_peer(self, target):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("udp peer vanished")
        return real_sense(self, target)

    monkeypatch.setattr(nfc.clf.udp.Device, "sense_tta", vanishing_peer)
    running = RunningReader(path, backoff_initial=0.05)
    with running:
        running.wait_for(lambda: failures["left"] == 0)
        running.wait_for(lambda: running.reader.ok)
        present_card("1A2B3C4D", hold=0.2, path=path)
        running.wait_for(lambda: running.taps)
    assert (False, "RuntimeError: udp peer vanished") in running.states


def test_missing_reader_reports_not_ok_and_keeps_retrying():
    attempts = []

    def no_device(path):
        attempts.append(path)
        raise OSError(errno.ENODEV, "No such device")

    reader = CardReader("usb:072f:2200", lambda uid: None, frontend=no_device,
                        backoff_initial=0.01, backoff_max=0.05)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    time.sleep(0.4)
    reader.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert not reader.ok
    assert len(attempts) >= 3
    assert "No such device" in reader.last_error or reader.last_error == "stopped"


def test_failing_tap_handler_does_not_stop_the_reader(path):
    def explode_once(uid):
        if uid == "1A2B3C4D":
            raise RuntimeError("database down")

    with RunningReader(path, on_tap=explode_once) as running:
        present_card("1A2B3C4D", hold=0.1, path=path)
        present_card("04A1B2C3D4E5F6", hold=0.1, path=path)
        running.wait_for(lambda: len(running.taps) == 2)
        assert running.reader.ok


def test_virtual_card_with_no_reader_says_so(path):
    with pytest.raises(NoReaderAnswered, match="no reader sensed the card"):
        present_card("04A1B2C3D4E5F6", hold=0.1, path=path, timeout=0.5)


def test_virtual_card_refuses_a_real_reader_path():
    with pytest.raises(ReaderUnavailable, match="emulated reader"):
        present_card("04A1B2C3D4E5F6", path="usb")
