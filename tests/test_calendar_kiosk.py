"""A real kiosk process: closing early lets phones out at once; open every bay."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from kiosk.devtools.kiosk_process import KioskProcess

from .calendar_helpers import midday_zone
from .conftest import run_cli, write_config

pytestmark = pytest.mark.slow

AMARA = "04A1B2C3D4E5F6"


def state(config_file, pupil_id) -> str:
    document = json.loads(run_cli(config_file, "status", "--json").stdout)
    return next(p["state"] for p in document["pupils"] if p["id"] == pupil_id)


def db_rows(config_file, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(config_file.parent / "phonelocker.db") as connection:
        return connection.execute(sql, params).fetchall()


@pytest.fixture
def school(tmp_path):
    """One Year 6 pupil; collection at 23:59 in a zone where it is now about midday."""
    config_file = write_config(
        tmp_path,
        f'[policy]\ncollect_from = "23:59"\ngrace_seconds = 0\ndebounce_seconds = 0\n'
        f'timezone = "{midday_zone()}"\n'
        "[locker]\nunlock_seconds = 1\n[web]\noffline_after_seconds = 4\n",
    )
    run_cli(config_file, "db", "upgrade")
    pupil_id = int(run_cli(config_file, "pupils", "add", "--name", "Amara Okafor", "--year",
                           "6", "--class", "6K", "--card", AMARA).stdout)
    return config_file, pupil_id


def test_closing_early_lets_a_phone_out_within_a_second_or_two(school):
    config_file, pupil_id = school
    with KioskProcess(config_file):
        run_cli(config_file, "tap", AMARA)
        run_cli(config_file, "tap", AMARA)  # too early: refused
        assert state(config_file, pupil_id) == "in_locker"
        run_cli(config_file, "calendar", "close-early", "--reason", "snow")
        # The kiosk re-reads today's entry every poll (0.5 s); its cache lives ≤ 1 s.
        time.sleep(1.5)
        run_cli(config_file, "tap", AMARA)
        assert state(config_file, pupil_id) == "collected"
    kinds = [k for (k,) in db_rows(config_file, "SELECT kind FROM events WHERE card_uid = ?"
                                   " ORDER BY id", AMARA)]
    assert kinds == ["enrol", "deposit", "refused", "collect"]


def test_open_all_opens_every_bay_lists_the_phones_and_relocks(school):
    config_file, pupil_id = school
    with KioskProcess(config_file):
        run_cli(config_file, "tap", AMARA)
        result = run_cli(config_file, "override", "--all", "--reason", "fire alarm", "--by",
                         "Mrs Head", "--seconds", "2")
        assert "done: " in result.stdout and "all bays unlocked for 2 s" in result.stdout
        assert "phones in the lockers when opened (1): hand back to" in result.stdout
        assert ", bay 1: Amara Okafor (6K)" in result.stdout
        # Fail secure: the kiosk locks again by itself after --seconds.
        deadline = time.monotonic() + 15
        while True:
            lockers = json.loads(run_cli(config_file, "lockers", "--json").stdout)
            if all(bay["locked"] for bay in lockers[0]["bays"]):
                break
            assert time.monotonic() < deadline, lockers
            time.sleep(0.5)
    (actor, reason, details), = db_rows(
        config_file, "SELECT actor, reason, details FROM events WHERE kind = 'open_all'")
    assert (actor, reason) == ("Mrs Head", "fire alarm (1 phone(s) in the lockers)")
    assert json.loads(details)["held"] == [{"pupil_id": pupil_id, "locker": "locker-1",
                                           "bay": 1}]
    # Record before open: the open-all event comes before the kiosk's override.
    kinds = [k for (k,) in db_rows(config_file, "SELECT kind FROM events WHERE kind IN"
                                   " ('open_all', 'override') ORDER BY id")]
    assert kinds == ["open_all", "override"]


def test_open_all_with_the_kiosk_offline_records_nothing(school):
    config_file, _ = school
    result = run_cli(config_file, "override", "--all", "--reason", "fire", "--by", "Mrs Head",
                     check=False)
    assert result.returncode == 1
    assert "kiosk offline" in result.stderr
    assert db_rows(config_file, "SELECT id FROM events WHERE kind = 'open_all'") == []
    mixed = run_cli(config_file, "override", "--all", "--bay", "1", "--reason", "fire",
                    "--by", "Mrs Head", check=False)
    assert mixed.returncode == 2 and "leave out --locker/--bay" in mixed.stderr
