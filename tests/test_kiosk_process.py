"""End to end: a real ``phonelocker kiosk`` process, nfcpy's udp reader, ``phonelocker tap``."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from zoneinfo import ZoneInfo

import pytest

from hardware.errors import HardwareError
from hardware.virtual_card import present_card
from kiosk.devtools.kiosk_process import KioskProcess

from .conftest import real_now, run_cli, write_config

pytestmark = pytest.mark.slow

AMARA = "04A1B2C3D4E5F6"


def json_cli(config_file, *args):
    return json.loads(run_cli(config_file, *args, "--json").stdout)


def pupil_state(config_file, pupil_id):
    document = json_cli(config_file, "status")
    return next(p for p in document["pupils"] if p["id"] == pupil_id), document


def minutes_before_midnight() -> float:
    """On the subprocesses' (real) clock: they decide what "today" is."""
    now = real_now(ZoneInfo("Europe/London"))
    return (24 * 60) - (now.hour * 60 + now.minute)


@pytest.fixture
def school(tmp_path):
    """A migrated database with one Year 6 pupil; collection at 23:59 (so: not yet)."""
    if minutes_before_midnight() <= 2:  # 23:58 London: wait for the new day
        time.sleep(minutes_before_midnight() * 60 + 5)
    config_file = write_config(
        tmp_path,
        '[policy]\ncollect_from = "23:59"\ngrace_seconds = 0\ndebounce_seconds = 0\n'
        "[locker]\nunlock_seconds = 1\n[web]\noffline_after_seconds = 4\n",
    )
    run_cli(config_file, "db", "upgrade")
    pupil_id = int(
        run_cli(config_file, "pupils", "add", "--name", "Amara Okafor", "--year", "6",
                "--class", "6K", "--card", AMARA).stdout
    )
    return config_file, pupil_id


def test_tap_hands_in_then_collects_after_collection_time(school, tmp_path):
    config_file, pupil_id = school
    with KioskProcess(config_file):
        assert pupil_state(config_file, pupil_id)[0]["state"] == "not_handed_in"
        run_cli(config_file, "tap", AMARA)
        row, document = pupil_state(config_file, pupil_id)
        assert row["state"] == "in_locker"
        assert row["handed_in_at"] is not None and row["collected_at"] is None
        assert document["date"] == real_now(ZoneInfo("Europe/London")).date().isoformat()
        assert set(row) >= {"id", "name", "year", "class", "state", "handed_in_at", "collected_at"}
        # Too early: refused, still in the locker.
        run_cli(config_file, "tap", AMARA)
        assert pupil_state(config_file, pupil_id)[0]["state"] == "in_locker"
    # The school moves collection time to the start of the day: now it is past it.
    text = config_file.read_text().replace('collect_from = "23:59"', 'collect_from = "00:00"')
    config_file.write_text(text)
    with KioskProcess(config_file):
        run_cli(config_file, "tap", AMARA)
        row, _ = pupil_state(config_file, pupil_id)
    assert row["state"] == "collected" and row["collected_at"] is not None
    kinds = [e["kind"] for e in json_cli(config_file, "events") if e["card_uid"] == AMARA]
    assert kinds == ["enrol", "deposit", "refused", "collect"]
    refused = next(e for e in json_cli(config_file, "events") if e["kind"] == "refused")
    assert refused["reason"] == "too_early" and refused["pupil_id"] == pupil_id
    for event in json_cli(config_file, "events"):
        assert {"id", "at", "kind", "pupil_id", "card_uid", "locker", "bay", "actor",
                "reason"} <= set(event)


def test_events_since_filters(school):
    config_file, _ = school
    everything = json_cli(config_file, "events")
    later = json_cli(config_file, "events", "--since", "2999-01-01")
    assert everything and later == []


def test_lockers_heartbeat_and_override(school):
    config_file, _ = school
    offline = run_cli(config_file, "override", "--reason", "fire", "--by", "Office", check=False)
    assert offline.returncode != 0 and "kiosk offline" in offline.stderr
    with KioskProcess(config_file):
        # READY=1 does not wait for the reader (the kiosk runs through reader faults);
        # the heartbeat reports it as soon as it is open.
        deadline = time.monotonic() + 5
        lockers = json_cli(config_file, "lockers")
        while not lockers[0]["reader_ok"] and time.monotonic() < deadline:
            time.sleep(0.1)
            lockers = json_cli(config_file, "lockers")
        assert lockers[0]["online"] and lockers[0]["reader_ok"]
        assert lockers[0]["bays"] == [{"bay": 1, "locked": True, "door": "closed"}]
        done = run_cli(config_file, "override", "--reason", "fire drill", "--by", "Mrs Office",
                       "--seconds", "10")
        assert "done" in done.stdout
        assert json_cli(config_file, "lockers")[0]["bays"][0]["locked"] is False
    override = [e for e in json_cli(config_file, "events") if e["kind"] == "override"]
    assert override[0]["actor"] == "Mrs Office" and override[0]["reason"] == "fire drill"
    after = json_cli(config_file, "lockers")[0]
    assert not after["online"]
    assert after["bays"][0]["locked"] is True  # the kiosk locked up on the way out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_unlock_exits_cleanly_and_locked(school, sig):
    config_file, _ = school
    kiosk = KioskProcess(config_file).start()
    try:
        run_cli(config_file, "override", "--reason", "test", "--by", "Office", "--seconds", "60")
        code = kiosk.stop(sig)
    finally:
        kiosk.close()
    assert code == 0
    locker = json_cli(config_file, "lockers")[0]
    assert locker["bays"][0]["locked"] is True and not locker["online"]
    assert json_cli(config_file, "events")[-1]["kind"] == "kiosk_stopped"


def test_kill_9_during_a_stream_of_taps_loses_no_committed_event(tmp_path):
    config_file = write_config(
        tmp_path, "[policy]\ngrace_seconds = 0\ndebounce_seconds = 0\ncollect_from = \"00:00\"\n"
    )
    run_cli(config_file, "db", "upgrade")
    uids = [f"04{n:02X}B2C3D4E5F6" for n in range(6)]
    for n, uid in enumerate(uids):
        run_cli(config_file, "pupils", "add", "--name", f"Pupil {n}", "--year", "6",
                "--class", "6K", "--card", uid)
    device = next(line.split('"')[1] for line in config_file.read_text().splitlines()
                  if line.startswith("device"))
    confirmed: list[str] = []
    stop = threading.Event()

    def stream():
        n = 0
        while not stop.is_set():
            uid = uids[n % len(uids)]
            try:
                present_card(uid, hold=0.05, path=device, timeout=1.5)
            except HardwareError:
                continue
            confirmed.append(uid)
            n += 1

    kiosk = KioskProcess(config_file).start()
    tapper = threading.Thread(target=stream, daemon=True)
    tapper.start()
    try:
        deadline = time.monotonic() + 30
        while len(confirmed) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        kiosk.stop(signal.SIGKILL)
    finally:
        stop.set()
        tapper.join(timeout=10)
        kiosk.close()
    assert len(confirmed) >= 8, kiosk.log()
    database = str(tmp_path / "phonelocker.db")
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        recorded = [row[0] for row in connection.execute(
            "SELECT card_uid FROM events WHERE kind IN ('deposit', 'collect') ORDER BY id")]
    # Every tap the reader confirmed was committed before the card was released;
    # at most one more (committed, killed before the card heard back) may follow.
    assert recorded[: len(confirmed)] == confirmed
    assert len(recorded) - len(confirmed) in (0, 1)
    # And the kiosk starts again on the same database.
    with KioskProcess(config_file):
        assert json_cli(config_file, "lockers")[0]["online"]


def test_ready_and_watchdog_are_sent_under_systemd(school):
    config_file, _ = school
    with KioskProcess(config_file, watchdog_usec=1_000_000) as kiosk:
        kiosk.wait_for_message("WATCHDOG=1", timeout=5)
    assert kiosk.messages[0] == "READY=1"


def test_real_gpio_that_cannot_open_is_an_error_not_emulation(tmp_path):
    config_file = write_config(tmp_path, '[gpio]\npin_factory = "lgpio"\n')
    run_cli(config_file, "db", "upgrade")
    result = run_cli(config_file, "kiosk", check=False, timeout=30)
    assert result.returncode == 3
    assert "cannot open GPIO with pin factory 'lgpio'" in result.stderr
    assert "gpio" in result.stderr and "mock" in result.stderr


def test_kiosk_refuses_an_unmigrated_database(tmp_path):
    config_file = write_config(tmp_path)
    result = run_cli(config_file, "kiosk", check=False)
    assert result.returncode == 1
    assert "phonelocker db upgrade" in result.stderr
