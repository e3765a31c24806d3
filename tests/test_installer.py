"""systemd/install.sh run into a temporary tree with --root, and the device files.

Under --root the installer writes every file with its final mode but does not
touch the running system: no accounts, no chown, no migrations, no systemctl,
udevadm or modprobe. It prints each skipped step as "skipped (--root): ...",
which these tests check. Each test installs from a copy of the source tree's
systemd/ folder (plus, where a test needs it, a stand-in example config), so
the result does not depend on whether kiosk/example-config.toml exists yet.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kiosk.config import load_config

PROJECT = Path(__file__).resolve().parent.parent
SYSTEMD_DIR = PROJECT / "systemd"
UNITS = (
    "phonelocker-kiosk.service",
    "phonelocker-web.service",
    "phonelocker-maintenance.service",
    "phonelocker-maintenance.timer",
)
EXAMPLE = "# stand-in example config\n[web]\nport = 8081\n"

#: every file the installer writes, with its mode
EXPECTED_FILES = {
    "etc/phonelocker/config.toml": 0o640,
    "etc/phonelocker/secret_key": 0o600,
    "etc/udev/rules.d/60-phonelocker-nfc.rules": 0o644,
    "etc/modprobe.d/phonelocker-nfc-blacklist.conf": 0o644,
    **{f"etc/systemd/system/{unit}": 0o644 for unit in UNITS},
}
EXPECTED_DIRS = {
    "etc/phonelocker": 0o750,
    "var/lib/phonelocker": 0o2770,
    "var/lib/phonelocker/backups": 0o2700,
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A source tree with the real systemd/ folder and a stand-in example config."""
    tree = tmp_path / "source"
    shutil.copytree(SYSTEMD_DIR, tree / "systemd")
    (tree / "kiosk").mkdir()
    (tree / "kiosk/example-config.toml").write_text(EXAMPLE)
    return tree


def run_installer(source: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(source / "systemd/install.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ, LC_ALL="C"),
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def install(source: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_installer(source, "--root", str(root), "--no-venv", *args)


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """relative path -> (kind, mode, sha256 of the content) for the whole tree."""
    result = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            kind, digest = "link", os.readlink(path)
        elif stat.S_ISDIR(info.st_mode):
            kind, digest = "dir", ""
        else:
            kind, digest = "file", hashlib.sha256(path.read_bytes()).hexdigest()
        result[str(path.relative_to(root))] = (kind, stat.S_IMODE(info.st_mode), digest)
    return result


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir()}


# --- install ---------------------------------------------------------------------


def test_install_twice_gives_identical_trees(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(source, root)
    first = snapshot(root)
    second_run = install(source, root)
    assert snapshot(root) == first
    assert "kept the existing /etc/phonelocker/config.toml" in second_run.stdout
    assert "kept the existing /etc/phonelocker/secret_key" in second_run.stdout
    # Nothing was rewritten the second time.
    assert "installed /etc/" not in second_run.stdout


def test_expected_files_and_modes(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(source, root)
    assert files_under(root) == set(EXPECTED_FILES)
    for name, mode in {**EXPECTED_FILES, **EXPECTED_DIRS}.items():
        actual = stat.S_IMODE((root / name).stat().st_mode)
        assert actual == mode, f"{name}: {actual:o}, expected {mode:o}"
    for unit in UNITS:
        assert (root / "etc/systemd/system" / unit).read_bytes() == (
            SYSTEMD_DIR / unit
        ).read_bytes()
    assert (root / "etc/udev/rules.d/60-phonelocker-nfc.rules").read_bytes() == (
        SYSTEMD_DIR / "60-phonelocker-nfc.rules"
    ).read_bytes()
    assert re.fullmatch(r"[0-9a-f]{64}", (root / "etc/phonelocker/secret_key").read_text())


def test_config_comes_from_the_example(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(source, root)
    assert (root / "etc/phonelocker/config.toml").read_text() == EXAMPLE


def test_existing_config_is_never_overwritten(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = root / "etc/phonelocker/config.toml"
    config.parent.mkdir(parents=True)
    mine = '# the school\'s own\n[locker]\nname = "Year 5"\n'
    config.write_text(mine)
    install(source, root)
    install(source, root)
    assert config.read_text() == mine
    assert stat.S_IMODE(config.stat().st_mode) == 0o640


def test_without_an_example_a_minimal_valid_config_is_written(source: Path, tmp_path: Path) -> None:
    (source / "kiosk/example-config.toml").unlink()
    root = tmp_path / "root"
    result = install(source, root)
    assert "no example-config.toml found" in result.stderr
    config = load_config(root / "etc/phonelocker/config.toml")
    assert config.database.url == "sqlite:////var/lib/phonelocker/phonelocker.db"
    assert config.web.secret_key_file == "/etc/phonelocker/secret_key"


def test_real_example_config_if_present_is_valid() -> None:
    example = PROJECT / "kiosk/example-config.toml"
    if not example.exists():
        pytest.skip("kiosk/example-config.toml not written yet")
    load_config(example)


def test_secret_key_is_kept_and_random(source: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    install(source, one)
    key = (one / "etc/phonelocker/secret_key").read_bytes()
    install(source, one)
    assert (one / "etc/phonelocker/secret_key").read_bytes() == key
    install(source, two)
    assert (two / "etc/phonelocker/secret_key").read_bytes() != key


def skipped_commands(output: str) -> list[list[str]]:
    """The host commands --root printed instead of running, split like a shell would."""
    prefix = "install.sh: skipped (--root): "
    return [
        shlex.split(line[len(prefix) :]) for line in output.splitlines() if line.startswith(prefix)
    ]


def test_root_mode_leaves_the_host_alone(source: Path, tmp_path: Path) -> None:
    result = install(source, tmp_path / "root")
    commands = skipped_commands(result.stdout)
    assert [
        "useradd", "--system", "--gid", "phonelocker", "--home-dir", "/var/lib/phonelocker",
        "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Phone Locker kiosk",
        "phonelocker",
    ] in commands  # fmt: skip
    assert ["usermod", "--append", "--groups", "gpio,plugdev,dialout", "phonelocker"] in commands
    assert ["usermod", "--append", "--groups", "phonelocker", "phonelocker-web"] in commands
    assert ["chown", "--", "phonelocker-web:phonelocker-web",
            str(tmp_path / "root/etc/phonelocker/secret_key")] in commands  # fmt: skip
    assert ["chown", "--", "phonelocker:phonelocker",
            str(tmp_path / "root/var/lib/phonelocker")] in commands  # fmt: skip
    assert [
        "runuser", "-u", "phonelocker", "--", "/opt/phonelocker/venv/bin/phonelocker",
        "--config", "/etc/phonelocker/config.toml", "db", "upgrade",
    ] in commands  # fmt: skip
    assert ["udevadm", "control", "--reload-rules"] in commands
    assert ["modprobe", "-r", "pn533_usb", "port100", "pn533", "nfc"] in commands
    assert ["systemctl", "daemon-reload"] in commands
    enable = [
        "phonelocker-kiosk.service",
        "phonelocker-web.service",
        "phonelocker-maintenance.timer",
    ]
    assert ["systemctl", "enable", *enable] in commands
    for unit in enable:
        assert ["systemctl", "start", unit] in commands
    assert not (tmp_path / "root/opt").exists()  # --no-venv


def test_no_start(source: Path, tmp_path: Path) -> None:
    result = install(source, tmp_path / "root", "--no-start")
    commands = skipped_commands(result.stdout)
    assert ["systemctl", "enable", "phonelocker-kiosk.service", "phonelocker-web.service",
            "phonelocker-maintenance.timer"] in commands  # fmt: skip
    assert not [command for command in commands if command[:2] == ["systemctl", "start"]]


def test_help_and_bad_options(source: Path, tmp_path: Path) -> None:
    result = run_installer(source, "--help")
    assert result.stdout.startswith("Usage: install.sh")
    for option in ("--root", "--uninstall", "--purge-data", "--no-venv", "--source"):
        assert option in result.stdout
    bad = run_installer(source, "--frobnicate", check=False)
    assert bad.returncode != 0 and "unknown option" in bad.stderr
    lone = run_installer(source, "--root", str(tmp_path / "r"), "--purge-data", check=False)
    assert lone.returncode != 0 and "--purge-data only goes with --uninstall" in lone.stderr


def test_source_option(source: Path, tmp_path: Path) -> None:
    """--source names the tree to install from, wherever the script lives."""
    root = tmp_path / "root"
    run_installer(source, "--root", str(root), "--no-venv", "--source", str(source))
    assert (root / "etc/phonelocker/config.toml").read_text() == EXAMPLE
    missing = run_installer(
        source,
        "--root",
        str(root),
        "--no-venv",
        "--source",
        str(tmp_path / "nowhere"),
        check=False,
    )
    assert missing.returncode != 0


# --- uninstall -------------------------------------------------------------------


def _installed_with_data(source: Path, root: Path) -> None:
    install(source, root)
    (root / "var/lib/phonelocker/phonelocker.db").write_bytes(b"SQLite format 3\0")
    (root / "var/lib/phonelocker/backups/phonelocker-20240101T023000Z.db").write_bytes(b"x")


def test_uninstall_keeps_the_data(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _installed_with_data(source, root)
    key = (root / "etc/phonelocker/secret_key").read_bytes()
    result = run_installer(source, "--root", str(root), "--uninstall")
    assert files_under(root) == {
        "etc/phonelocker/config.toml",
        "etc/phonelocker/secret_key",
        "var/lib/phonelocker/phonelocker.db",
        "var/lib/phonelocker/backups/phonelocker-20240101T023000Z.db",
    }
    assert (root / "etc/phonelocker/secret_key").read_bytes() == key
    assert "skipped (--root): systemctl disable --now" in result.stdout
    assert "userdel" not in result.stdout
    # Installing again afterwards reuses the data, config and key.
    install(source, root)
    assert (root / "etc/phonelocker/secret_key").read_bytes() == key
    assert (root / "var/lib/phonelocker/phonelocker.db").exists()


def test_uninstall_purge_data_removes_everything(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _installed_with_data(source, root)
    result = run_installer(source, "--root", str(root), "--uninstall", "--purge-data")
    assert files_under(root) == set()
    assert not (root / "etc/phonelocker").exists()
    assert not (root / "var/lib/phonelocker").exists()
    assert "skipped (--root): userdel phonelocker" in result.stdout


def test_uninstall_twice_is_harmless(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(source, root)
    run_installer(source, "--root", str(root), "--uninstall", "--purge-data")
    run_installer(source, "--root", str(root), "--uninstall", "--purge-data")
    assert files_under(root) == set()


# --- the script itself --------------------------------------------------------------


def test_script_syntax_and_shellcheck() -> None:
    script = SYSTEMD_DIR / "install.sh"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()
    assert os.access(script, os.X_OK), "install.sh should be executable"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt install shellcheck); bash -n passed")
    result = subprocess.run(
        [shellcheck, "--shell=bash", str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout


# --- udev rule and modprobe blacklist -------------------------------------------------

RULE_TOKEN = re.compile(
    r'^(?P<key>[A-Z]+(?:\{[^}]+\})?)(?P<op>==|!=|=|\+=|-=|:=)"(?P<value>[^"]*)"$'
)


def udev_rules() -> list[list[tuple[str, str, str]]]:
    """Each rule line as (key, operator, value) tokens; fails on a malformed token."""
    rules = []
    text = (SYSTEMD_DIR / "60-phonelocker-nfc.rules").read_text()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rule = []
        for token in (token.strip() for token in line.split(",")):
            match = RULE_TOKEN.match(token)
            assert match, f"not a udev rule token: {token!r} in {line!r}"
            rule.append((match["key"], match["op"], match["value"]))
        rules.append(rule)
    return rules


def udev_devices() -> dict[tuple[int, int], dict[str, str]]:
    """(vendor, product) -> the assignments of the rule that matches it."""
    devices = {}
    for rule in udev_rules():
        matches = {key: value for key, op, value in rule if op == "=="}
        if "ATTR{idVendor}" in matches:
            device = (int(matches["ATTR{idVendor}"], 16), int(matches["ATTR{idProduct}"], 16))
            assert device not in devices, f"{device} listed twice"
            devices[device] = {key: value for key, op, value in rule if op == "="}
    return devices


def test_udev_rule_covers_the_required_readers() -> None:
    devices = udev_devices()
    required = {
        (0x072F, 0x2200),  # ACS ACR122U
        (0x054C, 0x06C1),  # Sony RC-S380/S
        (0x054C, 0x06C3),  # Sony RC-S380/P
        (0x054C, 0x02E1),  # Sony RC-S360
        (0x04E6, 0x5591),  # SCM SCL3711 (PN533)
        (0x04CC, 0x2533),  # NXP PN533
    }
    assert required <= set(devices)
    for assignments in devices.values():
        assert assignments == {"GROUP": "plugdev", "MODE": "0660"}
    text = (SYSTEMD_DIR / "60-phonelocker-nfc.rules").read_text()
    assert 'SUBSYSTEM!="usb", GOTO="phonelocker_nfc_end"' in text
    assert 'LABEL="phonelocker_nfc_end"' in text


def test_udev_rule_matches_nfcpys_device_table() -> None:
    device = pytest.importorskip("nfc.clf.device", reason="nfcpy is not importable")
    assert set(udev_devices()) == set(device.usb_device_map)


def test_modprobe_blacklist() -> None:
    lines = [
        line.split()
        for line in (SYSTEMD_DIR / "phonelocker-nfc-blacklist.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert all(len(words) == 2 and words[0] == "blacklist" for words in lines), lines
    blacklisted = {words[1] for words in lines}
    assert {"pn533_usb", "pn533", "nfc"} <= blacklisted
    assert "port100" in blacklisted  # the kernel driver that grabs the RC-S380
