"""A virtual card: the card side of nfcpy's ``udp`` driver.

:func:`present_card` opens a ``ContactlessFrontend`` on the same ``udp:``
path as the emulated reader, listens as a Type A target with the given UID,
and answers the reader's commands like a small Type 2 tag (NTAG213) until
the hold time is over. The kiosk's reader therefore runs nfcpy's real
sensing, anti-collision, activation and presence-check code.

nfcpy's NXP activation sends two probes and re-selects the card after the
first; a real card goes back to the idle state then. nfcpy's public
``listen()`` binds a fresh socket, so for the re-selection we call the udp
driver's own ``_listen_tta`` on the socket we already hold (nfcpy 1.0.4).
"""

from __future__ import annotations

import logging
import math
import time

import nfc
import nfc.clf

from hardware.errors import NoReaderAnswered, ReaderUnavailable

log = logging.getLogger(__name__)

DEFAULT_PATH = "udp:127.0.0.1:54321"
NTAG213_VERSION = bytes.fromhex("0004040201000F03")
SENS_RES = bytes.fromhex("4400")  # ATQA of an NTAG/Ultralight
SEL_RES = bytes.fromhex("00")  # SAK: Type 2 tag
READ, GET_VERSION = 0x30, 0x60


def _memory(uid: bytes) -> bytes:
    """Four pages of tag memory starting with the UID, and an empty capability container."""
    pages = bytearray(uid[:9].ljust(12, b"\x00"))
    pages += bytes.fromhex("E1100600")  # CC: NDEF 1.0, 48 bytes, read/write
    return bytes(pages) + bytes(48)


def _answer(command: bytes, memory: bytes) -> bytes | None:
    if command and command[0] == READ and len(command) >= 2:
        start = (command[1] * 4) % len(memory)
        return (memory + memory)[start : start + 16]
    if command == bytes([GET_VERSION]):
        return NTAG213_VERSION
    return None  # unsupported: a real tag stays silent (and nfcpy re-selects it)


#: the longest hold or timeout a virtual card accepts
MAX_SECONDS = 120.0


def present_card(
    uid: str, *, hold: float = 0.5, path: str = DEFAULT_PATH, timeout: float = 5.0
) -> None:
    """Hold a card with ``uid`` (hex) to the emulated reader at ``path``.

    Returns once the reader has read the card and ``hold`` seconds have passed
    since. Raises :class:`NoReaderAnswered` if no reader sensed the card
    within ``timeout`` seconds, :class:`ReaderUnavailable` for a bad path, and
    ValueError for a ``hold`` or ``timeout`` that is not a finite number up to
    :data:`MAX_SECONDS` (nan would reach nfcpy's socket timeout).
    """
    for name, seconds in (("hold", hold), ("timeout", timeout)):
        if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"{name} must be a finite number of seconds, 0 to {MAX_SECONDS:g}")
    if not path.startswith("udp"):
        raise ReaderUnavailable(
            f"virtual cards only work with the emulated reader (udp:…), not {path}"
        )
    identifier = bytes.fromhex(uid)
    memory = _memory(identifier)
    target = nfc.clf.LocalTarget("106A")
    target.sens_res, target.sdd_res, target.sel_res = SENS_RES, identifier, SEL_RES
    try:
        clf = nfc.ContactlessFrontend(path)
    except OSError as error:
        raise ReaderUnavailable(f"cannot open {path}: {error}") from error
    try:
        _answer_selectors_only(clf.device)
        activated = clf.listen(target, timeout)
        if activated is None:
            raise NoReaderAnswered(f"no reader sensed the card on {path} within {timeout:g} s")
        _serve(clf.device, activated, target, memory, hold, deadline=time.time() + timeout)
    finally:
        clf.close()


def _answer_selectors_only(device) -> None:
    """Ignore frames from reader sockets that never sent us a SENS_REQ.

    When cards are tapped one after another, the reader may still be
    presence-checking the previous card; a real card would not hear that
    conversation, but a new UDP socket on the same port does.
    This also mends a cascade-level-3 bug so 10-byte UIDs can be emulated.
    """
    receive = device._recv_data
    selectors: set = set()

    def recv_data(timeout, *brty_list):
        end = None if timeout is None else time.time() + timeout
        while True:
            remaining = None if end is None else max(0.0, end - time.time())
            brty, data, addr = receive(remaining, *brty_list)
            if bytes(data) in (b"\x26", b"\x52"):
                selectors.add(addr)
            if addr in selectors:
                if bytes(data[:2]) == b"\x97\x70":
                    # nfcpy 1.0.4's listen side expects the cascade level 3
                    # SEL_REQ as 0x95 (a typo for 0x97); the reader sends 0x97.
                    data = bytearray(b"\x95\x70") + data[2:]
                return brty, data, addr

    device._recv_data = recv_data


def _serve(device, activated, target, memory: bytes, hold: float, deadline: float) -> None:
    command = activated.tt2_cmd
    read_since: float | None = None
    while command is not None:
        if command[0] == READ and read_since is None:
            # The reader is checking presence: it has activated the card and told the kiosk.
            read_since = time.time()
        if read_since is not None:
            remaining = read_since + hold - time.time()
        else:
            remaining = deadline - time.time()
        if remaining <= 0:
            break
        try:
            command = device.send_rsp_recv_cmd(activated, _answer(command, memory), remaining)
        except nfc.clf.BrokenLinkError:
            # RF off: the reader is re-selecting. Answer on the same socket.
            activated = device._listen_tta(target, time.time() + max(remaining, 0.1))
            command = activated.tt2_cmd if activated is not None else None
        except nfc.clf.TimeoutError:
            break
    if read_since is None:
        raise NoReaderAnswered("the reader sensed the card but did not read it")
