"""systemd/install.sh run into a temporary tree with --root, and the device files.

Under --root the installer writes every file with its final mode but does not
touch the running system: no systemd-sysusers, no systemd-tmpfiles, no chown,
no migrations, no systemctl, udevadm or modprobe. It prints each skipped step
as "skipped (--root): ...", which these tests check. The shipped sysusers.d and
tmpfiles.d files are also applied with the real systemd tools to a tree (as
root), and links planted in the data directory must never be followed.

Each test installs from a copy of the source tree's systemd/ folder (plus,
where a test needs it, a stand-in example config), so the result does not
depend on whether kiosk/example-config.toml exists yet.
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
    "phonelocker-notify.service",
    "phonelocker-notify.timer",
)
EXAMPLE = "# stand-in example config\n[web]\nport = 8081\n"

#: every file the installer writes, with its mode
EXPECTED_FILES = {
    "etc/phonelocker/config.toml": 0o640,
    "etc/phonelocker/secret_key": 0o600,
    "etc/udev/rules.d/60-phonelocker-nfc.rules": 0o644,
    "etc/modprobe.d/phonelocker-nfc-blacklist.conf": 0o644,
    "etc/sysusers.d/phonelocker.conf": 0o644,
    "etc/tmpfiles.d/phonelocker.conf": 0o644,
    **{f"etc/systemd/system/{unit}": 0o644 for unit in UNITS},
}
#: installed file -> the file in systemd/ it is a copy of
INSTALLED_AS = {
    "etc/udev/rules.d/60-phonelocker-nfc.rules": "60-phonelocker-nfc.rules",
    "etc/sysusers.d/phonelocker.conf": "phonelocker.sysusers",
    "etc/tmpfiles.d/phonelocker.conf": "phonelocker.tmpfiles",
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
    for installed, shipped in INSTALLED_AS.items():
        assert (root / installed).read_bytes() == (SYSTEMD_DIR / shipped).read_bytes()
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
    # The accounts and directories come from systemd-sysusers and systemd-tmpfiles
    # (see test_sysusers_and_tmpfiles_with_the_real_tools for what they create).
    assert ["systemd-sysusers", "/etc/sysusers.d/phonelocker.conf"] in commands
    assert ["systemd-tmpfiles", "--create", "/etc/tmpfiles.d/phonelocker.conf"] in commands
    assert not [command for command in commands if command[0] in ("useradd", "usermod")]
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
        "phonelocker-notify.timer",
    ]
    assert ["systemctl", "enable", *enable] in commands
    for unit in enable:
        assert ["systemctl", "start", unit] in commands
    assert not (tmp_path / "root/opt").exists()  # --no-venv


def test_no_start(source: Path, tmp_path: Path) -> None:
    result = install(source, tmp_path / "root", "--no-start")
    commands = skipped_commands(result.stdout)
    assert ["systemctl", "enable", "phonelocker-kiosk.service", "phonelocker-web.service",
            "phonelocker-maintenance.timer", "phonelocker-notify.timer"] in commands  # fmt: skip
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


# --- links planted in the data directory ---------------------------------------------

DATA = "var/lib/phonelocker"
#: what a kiosk user could plant in /var/lib/phonelocker, and what it points at
PLANTED = {
    "backups": "outside-dir",
    "phonelocker.db": "outside-db",
    "phonelocker.db-wal": "outside-wal",
    "phonelocker.db-shm": "outside-shm",
}


def make_targets(base: Path) -> dict[Path, tuple[int, int, int, str]]:
    """Files and a folder outside the tree, each with a known mode (and, as root, owner)."""
    base.mkdir()
    directory = base / "outside-dir"
    directory.mkdir()
    (directory / "keep.txt").write_text("someone else's file\n")
    directory.chmod(0o751)
    paths = [directory]
    for name in ("outside-db", "outside-wal", "outside-shm"):
        (base / name).write_text(f"contents of {name}\n")
        (base / name).chmod(0o604)
        paths.append(base / name)
    if os.geteuid() == 0:
        for path in paths:
            os.chown(path, 4242, 4343)  # an owner the installer never uses
    return {path: target_state(path) for path in paths}


def target_state(path: Path) -> tuple[int, int, int, str]:
    """(uid, gid, mode, contents) of a planted link's target."""
    info = path.lstat()
    if path.is_dir():
        children = sorted(path.iterdir())
        contents = "\n".join(f"{child.name}:{child.read_text()}" for child in children)
    else:
        contents = path.read_text()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), contents


def assert_targets_unchanged(targets: dict[Path, tuple[int, int, int, str]]) -> None:
    for path, before in targets.items():
        assert target_state(path) == before, f"{path} was changed through a link"


def plant(root: Path, name: str, target: Path) -> Path:
    """Replace ROOT/var/lib/phonelocker/NAME (or the directory itself, for "") by a link."""
    link = root / DATA / name if name else root / DATA
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)
    return link


def assert_refused(result: subprocess.CompletedProcess[str], name: str) -> None:
    assert result.returncode != 0, result.stdout
    shown = f"/{DATA}/{name}" if name else f"/{DATA}"
    assert f"symbolic link in the data directory: {shown} -> " in result.stderr
    assert "never follows a link" in result.stderr
    assert "Nothing was changed" in result.stderr


@pytest.mark.parametrize("name", [*PLANTED, ""])
@pytest.mark.parametrize("when", ["before the first install", "after an install"])
def test_links_in_the_data_directory_are_refused(
    source: Path, tmp_path: Path, name: str, when: str
) -> None:
    """Install, re-install and purge with a planted link: its target never changes."""
    targets = make_targets(tmp_path / "outside")
    target = tmp_path / "outside" / PLANTED.get(name, "outside-dir")
    root = tmp_path / "root"
    if when == "after an install":
        install(source, root)
    link = plant(root, name, target)
    before = snapshot(root)

    for _attempt in ("install", "re-install"):
        result = run_installer(source, "--root", str(root), "--no-venv", check=False)
        assert_refused(result, name)
        assert_targets_unchanged(targets)
        assert snapshot(root) == before  # the tree itself is untouched too

    purge = run_installer(source, "--root", str(root), "--uninstall", "--purge-data")
    assert "removed /var/lib/phonelocker" in purge.stdout
    assert not link.is_symlink() and not (root / DATA).exists()
    assert_targets_unchanged(targets)


def test_link_refusal_names_every_link(source: Path, tmp_path: Path) -> None:
    targets = make_targets(tmp_path / "outside")
    root = tmp_path / "root"
    for name, target in PLANTED.items():
        plant(root, name, tmp_path / "outside" / target)
    result = run_installer(source, "--root", str(root), "--no-venv", check=False)
    for name in PLANTED:
        assert_refused(result, name)
    assert not (root / "etc").exists(), result.stdout  # stopped before writing anything
    assert_targets_unchanged(targets)


def test_ordinary_files_in_the_data_directory_are_fine(source: Path, tmp_path: Path) -> None:
    """Only links are refused: a real database, WAL and backups are kept as they are."""
    root = tmp_path / "root"
    _installed_with_data(source, root)
    (root / DATA / "phonelocker.db-wal").write_bytes(b"wal")
    before = snapshot(root / DATA)
    install(source, root)
    assert snapshot(root / DATA) == before


# --- the sysusers.d and tmpfiles.d files, applied by the real systemd tools ----------

SYSUSERS = shutil.which("systemd-sysusers")
TMPFILES = shutil.which("systemd-tmpfiles")


def passwd_entries(path: Path) -> dict[str, list[str]]:
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


@pytest.mark.skipif(
    SYSUSERS is None or TMPFILES is None or os.geteuid() != 0,
    reason="needs systemd-sysusers and systemd-tmpfiles, and root (tmpfiles chowns)",
)
def test_sysusers_and_tmpfiles_with_the_real_tools(source: Path, tmp_path: Path) -> None:
    """What the installer runs on a real system, applied to an installed --root tree."""
    assert SYSUSERS is not None and TMPFILES is not None
    root = tmp_path / "root"
    install(source, root)
    sysusers_conf = str(root / "etc/sysusers.d/phonelocker.conf")
    tmpfiles_conf = str(root / "etc/tmpfiles.d/phonelocker.conf")

    for _ in range(2):  # the second run changes nothing and still succeeds
        subprocess.run([SYSUSERS, f"--root={root}", sysusers_conf],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
    users = passwd_entries(root / "etc/passwd")
    groups = passwd_entries(root / "etc/group")
    kiosk, web = users["phonelocker"], users["phonelocker-web"]
    assert kiosk[4:] == ["Phone Locker kiosk", "/var/lib/phonelocker", "/usr/sbin/nologin"]
    assert web[4:] == ["Phone Locker dashboard", "/nonexistent", "/usr/sbin/nologin"]
    assert kiosk[3] == groups["phonelocker"][2] and web[3] == groups["phonelocker-web"][2]
    for group in ("gpio", "plugdev", "dialout"):
        assert groups[group][3].split(",") == ["phonelocker"]
    assert groups["phonelocker"][3].split(",") == ["phonelocker-web"]

    result = subprocess.run([TMPFILES, f"--root={root}", "--create", tmpfiles_conf],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    kiosk_ids = (int(kiosk[2]), int(kiosk[3]))
    for name, mode, owner in (
        ("etc/phonelocker", 0o750, (0, int(groups["phonelocker"][2]))),
        (DATA, 0o2770, kiosk_ids),
        (f"{DATA}/backups", 0o2700, kiosk_ids),
    ):
        info = (root / name).lstat()
        assert (stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)) == (mode, owner), name

    # A link planted in place of the backups folder is left alone, and so is its
    # target. (systemd 252 only logs this and still exits 0: the installer's own
    # check, above, is what stops an install.)
    targets = make_targets(tmp_path / "outside")
    link = plant(root, "backups", tmp_path / "outside/outside-dir")
    result = subprocess.run([TMPFILES, f"--root={root}", "--create", tmpfiles_conf],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert "backups" in result.stderr and "not a directory" in result.stderr
    assert link.is_symlink()
    assert_targets_unchanged(targets)


def sysusers_lines() -> list[list[str]]:
    return [
        shlex.split(line)
        for line in (SYSTEMD_DIR / "phonelocker.sysusers").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_sysusers_matches_the_units() -> None:
    """The accounts agree with User=, Group= and SupplementaryGroups= of the units."""
    from .test_systemd_units import parse_unit

    lines = sysusers_lines()
    users = {fields[1] for fields in lines if fields[0] == "u"}
    groups = {fields[1] for fields in lines if fields[0] in ("u", "g")}  # "u" makes its group
    members: dict[str, set[str]] = {}
    for fields in lines:
        if fields[0] == "m":
            members.setdefault(fields[1], set()).add(fields[2])
    for unit in ("phonelocker-kiosk.service", "phonelocker-web.service",
                 "phonelocker-maintenance.service", "phonelocker-notify.service"):  # fmt: skip
        service = parse_unit(unit)["Service"]
        (user,), (group,) = service["User"], service["Group"]
        assert user in users, unit
        assert group == user or group in members.get(user, set()), unit
        for extra in " ".join(service.get("SupplementaryGroups", [])).split():
            assert extra in groups and extra in members[user], (unit, extra)


def test_tmpfiles_modes_match_the_state_directory() -> None:
    """StateDirectoryMode= of the units and the tmpfiles.d line give the same mode."""
    from .test_systemd_units import parse_unit

    lines = [
        line.split()
        for line in (SYSTEMD_DIR / "phonelocker.tmpfiles").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    data = {fields[1]: fields for fields in lines}["/var/lib/phonelocker"]
    assert data[0] == "d" and data[3:5] == ["phonelocker", "phonelocker"]
    for unit in ("phonelocker-kiosk.service", "phonelocker-maintenance.service"):
        service = parse_unit(unit)["Service"]
        assert service["StateDirectory"] == ["phonelocker"]
        assert service["StateDirectoryMode"] == [data[2]], unit
    # Every directory is kept for ever: no age, so never cleaned.
    assert all(fields[5] == "-" for fields in lines)


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
        [shellcheck, "--shell=bash", str(script)], check=False, capture_output=True, text=True,
        timeout=60,
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
    for raw in text.splitlines():
        line = raw.strip()
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
