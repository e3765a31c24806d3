"""``phonelocker doctor`` and ``phonelocker hw-test``."""

from __future__ import annotations

import errno
import threading
import time
from collections import namedtuple

import pytest
from click.testing import CliRunner

from hardware.virtual_card import present_card
from kiosk.care.doctor import check_clock, check_disk, check_reader, run_checks
from kiosk.cli.main import cli
from kiosk.config import Config, DatabaseConfig, load_config
from kiosk.locker.hwtest import run_hw_test

from .conftest import run_cli, write_config


@pytest.fixture
def real_reader_config(tmp_path):
    """A config naming a USB reader (none is plugged in here) and mock pins."""
    path = write_config(tmp_path, '[reader]\ndevice = "usb:072f:2200"\n')
    run_cli(path, "db", "upgrade")
    return path


def test_doctor_reports_a_missing_reader_and_fails(real_reader_config):
    result = run_cli(real_reader_config, "doctor", check=False)
    assert result.returncode == 1
    reader_line = next(line for line in result.stdout.splitlines() if "reader:" in line)
    assert reader_line.startswith("✗ reader: no reader at usb:072f:2200")
    assert "plugdev" in result.stdout  # says what to do
    assert "✓ config" in result.stdout and "✓ database" in result.stdout


def test_doctor_reports_an_unsynchronised_clock(real_reader_config):
    checks = {c.name: c for c in run_checks(str(real_reader_config), synchronised=lambda: False)}
    assert checks["clock"].ok is False
    assert "not synchronised" in checks["clock"].detail
    assert "timedatectl" in checks["clock"].fix
    synced = {c.name: c for c in run_checks(str(real_reader_config), synchronised=lambda: True)}
    assert synced["clock"].ok is True


def test_doctor_reads_a_running_kiosks_clock_warning():
    check = check_clock({"clock_ok": False}, synchronised=lambda: True)
    assert check.ok is False and "suspect" in check.detail


def test_doctor_opens_a_present_reader(tmp_path):
    class FakeFrontend:  # stands in for a USB reader, which this machine does not have
        def __init__(self, path):
            self.path = path
            self.closed = False

        def __str__(self):
            return "ACS ACR122U PN532v1.6 at usb:001:004"

        def close(self):
            self.closed = True

    config = load_config(write_config(tmp_path, '[reader]\ndevice = "usb"\n'))
    check = check_reader(config, None, frontend=FakeFrontend)
    assert check.ok is True and "ACR122U" in check.detail

    def unplugged(path):
        raise OSError(errno.ENODEV, "No such device")

    assert check_reader(config, None, frontend=unplugged).ok is False


def test_doctor_reports_a_database_that_needs_migrating(tmp_path):
    path = write_config(tmp_path)
    result = run_cli(path, "doctor", check=False)
    assert result.returncode == 1
    assert "✗ database" in result.stdout and "phonelocker db upgrade" in result.stdout


def test_doctor_reports_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[reader]\nspeed = 3\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "doctor"])
    assert result.exit_code == 1
    assert "✗ config" in result.output and "[reader].speed" in result.output


def test_hw_test_pulses_each_output_and_reads_a_card(tmp_path, mock_factory):
    config = load_config(write_config(
        tmp_path,
        "[[locker.bays]]\nnumber = 1\nlock_pin = 17\ndoor_pin = 27\n"
        "[[locker.bays]]\nnumber = 2\nlock_pin = 5\n",
    ))
    lines: list[str] = []
    tapper = threading.Timer(
        1.5, present_card, args=("04A1B2C3D4E5F6",), kwargs={"path": config.reader.device}
    )
    tapper.start()
    uid = run_hw_test(config, echo=lines.append, pulse_seconds=0.1, card_seconds=10,
                      pin_factory=mock_factory)
    tapper.join()
    assert uid == "04A1B2C3D4E5F6"
    for pin in (17, 5, 22, 23, 24):
        states = [s.state for s in mock_factory.pin(pin).states]
        assert states[:3] == [False, True, False], (pin, states)
    assert any("bay 2" in line for line in lines)
    assert lines[-1] == "card read: 04A1B2C3D4E5F6"


def test_hw_test_without_a_card_fails(tmp_path):
    path = write_config(tmp_path)
    started = time.monotonic()
    result = run_cli(path, "hw-test", "--pulse", "0.05", "--card-seconds", "1.5", check=False)
    assert result.returncode == 1
    assert "no card read" in result.stdout
    assert time.monotonic() - started < 30


#: what shutil.disk_usage returns
DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.mark.parametrize(("free_mb", "total_mb", "ok", "warning"), [
    (5_000, 30_000, True, False),
    (900, 30_000, True, True),    # under 5 %
    (60, 1_000, True, True),      # under 100 MB
    (12, 30_000, False, False),   # under 20 MB: taps are about to be refused
], ids=["plenty", "under-5-percent", "under-100-MB", "under-20-MB"])
def test_doctor_disk_check_says_the_numbers(tmp_path, free_mb, total_mb, ok, warning):
    mb = 1024 * 1024
    config = Config(database=DatabaseConfig(url=f"sqlite:///{tmp_path}/pl.db"))
    usage = DiskUsage(total_mb * mb, (total_mb - free_mb) * mb, free_mb * mb)
    check = check_disk(config, usage=lambda folder: usage)
    assert (check.ok, check.warning) == (ok, warning)
    assert f"{free_mb:,} MB free of {total_mb:,} MB" in check.detail
    line = check.line()
    assert line.startswith({(True, False): "✓", (True, True): "!", (False, False): "✗"}[
        (ok, warning)])
    assert ("→ free space" in line) == (not ok or warning)


def test_doctor_disk_check_on_this_machine(tmp_path):
    check = check_disk(Config(database=DatabaseConfig(url=f"sqlite:///{tmp_path}/pl.db")))
    assert check.name == "disk" and "MB free of" in check.detail and str(tmp_path) in check.detail


def test_doctor_reports_the_kiosks_write_fault(tmp_path):
    from datetime import UTC, datetime

    from kiosk.store.runtime_status import DISK_FULL, status_path, write_status

    config_file = write_config(tmp_path)
    config = load_config(config_file)
    assert "writes" not in {c.name for c in run_checks(str(config_file), synchronised=lambda: True)}
    write_status(status_path(config), {
        "locker_id": config.locker.id, "written_at": datetime.now(UTC).isoformat(), "ok": False,
        "problem": DISK_FULL, "detail": "OperationalError: database or disk is full",
        "bays": [], "reader_ok": True,
    })
    checks = {c.name: c for c in run_checks(str(config_file), synchronised=lambda: True)}
    assert checks["writes"].ok is False
    assert "cannot record taps: disk full" in checks["writes"].line()
    assert "free disk space" in checks["writes"].line()
