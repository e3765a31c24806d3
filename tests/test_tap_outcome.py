"""``phonelocker tap`` says what the kiosk did with the card, from the event it recorded:
a real ``phonelocker kiosk`` process, nfcpy's udp reader, the console script."""

from __future__ import annotations

import re
import time
from zoneinfo import ZoneInfo

import pytest

from kiosk.devtools.kiosk_process import KioskProcess

from .conftest import real_now, run_cli, write_config

pytestmark = pytest.mark.slow

AMARA = "04A1B2C3D4E5F6"
BEN = "04B1B2C3D4E5F6"
POLICY = '[policy]\ncollect_from = "23:59"\ngrace_seconds = 0\ndebounce_seconds = 0\n'


@pytest.fixture
def school(tmp_path):
    """A Year 6 and a Year 5 pupil (no agreement); collection at 23:59 (so: not yet)."""
    now = real_now(ZoneInfo("Europe/London"))  # the subprocesses' clock decides "today"
    if now.hour == 23 and now.minute >= 58:
        time.sleep((60 - now.minute) * 60 + 5)
    config_file = write_config(tmp_path, POLICY + "[locker]\nunlock_seconds = 1\n")
    run_cli(config_file, "db", "upgrade")
    run_cli(config_file, "pupils", "add", "--name", "Amara Okafor", "--year", "6",
            "--class", "6K", "--card", AMARA)
    run_cli(config_file, "pupils", "add", "--name", "Ben Hall", "--year", "5",
            "--class", "5R", "--card", BEN)
    return config_file


def test_tap_prints_what_happened_at_the_locker(school):
    with KioskProcess(school):
        handed_in = run_cli(school, "tap", AMARA)
        assert handed_in.stdout.splitlines() == [f"card {AMARA} read by the reader",
                                                 "handed in: bay 1"]
        too_early = run_cli(school, "tap", AMARA)
        assert too_early.stdout.splitlines()[-1] == "refused: Collection opens at 23:59"
        year5 = run_cli(school, "tap", BEN)
        assert year5.stdout.splitlines()[-1] == (
            "refused: Year 5 phones need agreement from the school first")
        unknown = run_cli(school, "tap", "04C0FFEE000001")
        assert unknown.stdout.splitlines()[-1] == "refused: Card not recognised: see the office"


def test_tap_says_when_the_kiosk_does_not_answer(school, tmp_path):
    # The same reader, but another database: the kiosk reads the card and records its
    # event where this tap cannot see it, so no answer comes.
    other = tmp_path / "other"
    other.mkdir()
    udp = re.search(r'device = "(udp:[^"]+)"', school.read_text()).group(1)
    elsewhere = write_config(other, POLICY + f'[reader]\ndevice = "{udp}"\n')
    run_cli(elsewhere, "db", "upgrade")
    with KioskProcess(school):
        result = run_cli(elsewhere, "tap", AMARA, "--wait", "1", check=False)
    assert f"card {AMARA} read by the reader" in result.stdout
    assert result.returncode != 0
    assert "no answer from the kiosk within 1 s" in result.stderr
