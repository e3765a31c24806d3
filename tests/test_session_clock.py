"""The ``PHONELOCKER_TEST_NOW`` switch, tried on a probe session of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = '''
import time
from datetime import UTC, datetime, timedelta

WANTED = datetime(2027, 3, 28, 0, 59, 30, tzinfo=UTC)


def test_probe_{n}():
    first = datetime.now(UTC)
    assert WANTED <= first < WANTED + timedelta(minutes=5), first
    time.sleep(0.05)  # real sleeping still works, and the clock ticks
    assert datetime.now(UTC) > first
    assert time.time() >= WANTED.timestamp()
'''


def probe_session(tmp_path: Path, *args: str, now: str | None):
    for n in (1, 2):
        (tmp_path / f"test_probe_{n}.py").write_text(PROBE.format(n=n), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "PHONELOCKER_TEST_NOW"}
    if now is not None:
        env["PHONELOCKER_TEST_NOW"] = now
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-c", os.devnull, "--rootdir", str(tmp_path), *args, str(tmp_path)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )


def test_the_switch_starts_every_workers_clock_at_the_instant_ticking(tmp_path):
    result = probe_session(tmp_path, "-n", "2", now="2027-03-28T00:59:30Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "clock: PHONELOCKER_TEST_NOW=2027-03-28T00:59:30+00:00" in result.stdout


def test_without_the_switch_the_clock_is_real(tmp_path):
    result = probe_session(tmp_path, now=None)
    assert result.returncode == 1  # the probe wants 2027; the real clock is not there
    assert "clock: real (PHONELOCKER_TEST_NOW unset)" in result.stdout


def test_a_bad_instant_is_a_clear_usage_error(tmp_path):
    result = probe_session(tmp_path, now="2027-03-28 ten to one")
    assert result.returncode == 4
    assert "is not an ISO 8601 instant" in result.stderr
