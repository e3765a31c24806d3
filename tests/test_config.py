"""Config loading: defaults, the shipped example, and clear errors naming the key."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

import kiosk
from kiosk.config import Config, load_config, parse_config
from kiosk.config_values import ConfigError

from .conftest import run_cli

EXAMPLE = Path(kiosk.__file__).with_name("example-config.toml")


def test_defaults_run_emulated_with_sqlite_under_var(monkeypatch):
    monkeypatch.delenv("PHONELOCKER_CONFIG", raising=False)
    config = load_config()
    assert config.emulated
    assert config.database.url == "sqlite:///var/phonelocker.db"
    assert config.reader.device.startswith("udp:")
    assert config.gpio.pin_factory == "mock"
    assert config.locker.unlock_seconds == 5
    assert config.policy.grace_seconds == 60
    assert config.policy.debounce_seconds == 2
    assert config.policy.timezone == "Europe/London"


def test_shipped_example_config_is_valid_and_real_hardware():
    config = load_config(EXAMPLE)
    assert not config.emulated
    assert config.gpio.pin_factory == "lgpio"
    assert config.reader.device == "usb"
    assert config.locker.bays[0].lock_pin == 17


def test_env_var_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[locker]\nid = "hall"\n')
    monkeypatch.setenv("PHONELOCKER_CONFIG", str(path))
    assert load_config().locker.id == "hall"


def test_contract_keys_parse():
    config = parse_config(
        {
            "database": {"url": "sqlite:///x.db"},
            "reader": {"device": "tty:S0:pn532"},
            "gpio": {"pin_factory": "lgpio", "lock_active_high": False},
            "locker": {
                "id": "6k", "name": "6K", "unlock_seconds": 3,
                "bays": [{"number": 1, "lock_pin": 17, "door_pin": 27},
                         {"number": 2, "lock_pin": 5}],
            },
            "policy": {
                "collect_from": "15:00", "grace_seconds": 30, "debounce_seconds": 1,
                "timezone": "Europe/Dublin", "collect_from_weekday": {"friday": "14:00"},
            },
            "web": {"trusted_proxy": "127.0.0.1"},
        }
    )
    assert config.web.trusted_proxy == "127.0.0.1"
    assert isinstance(config, Config)
    assert config.locker.bays[1].door_pin is None
    assert config.policy.collection_time(4) == time(14, 0)
    assert config.policy.collection_time(0) == time(15, 0)
    assert not config.gpio.lock_active_high


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"reader": {"devise": "usb"}}, "[reader].devise: unknown key"),
        ({"lockers": {}}, "top level.lockers: unknown key"),
        ({"policy": {"collect_from": "25:00"}}, "[policy].collect_from"),
        ({"policy": {"collect_from": 1515}}, "[policy].collect_from"),
        ({"policy": {"timezone": "Europe/Atlantis"}}, "[policy].timezone"),
        ({"policy": {"grace_seconds": -1}}, "[policy].grace_seconds"),
        ({"policy": {"collect_from_weekday": {"funday": "14:00"}}}, "collect_from_weekday.funday"),
        ({"locker": {"unlock_seconds": "five"}}, "[locker].unlock_seconds"),
        ({"locker": {"id": "has space"}}, "[locker].id"),
        ({"locker": {"bays": []}}, "[[locker.bays]]"),
        ({"locker": {"bays": [{"number": 1}]}}, "'number' and 'lock_pin' are required"),
        ({"locker": {"bays": [{"number": 1, "lock_pin": 99}]}}, "lock_pin: BCM pin 99"),
        ({"locker": {"bays": [{"number": 1, "lock_pin": 17, "door": 4}]}},
         "[[locker.bays]] #1.door: unknown key"),
        ({"locker": {"bays": [{"number": 1, "lock_pin": 17}, {"number": 1, "lock_pin": 18}]}},
         "each bay needs its own number"),
        ({"locker": {"bays": [{"number": 1, "lock_pin": 17, "door_pin": 17}]}}, "used twice"),
        ({"gpio": {"pin_factory": "magic"}}, "[gpio].pin_factory"),
        ({"gpio": {"lock_active_high": "yes"}}, "[gpio].lock_active_high"),
        ({"reader": {"device": "bluetooth"}}, "[reader].device"),
        ({"web": {"port": 70000}}, "[web].port"),
        ({"database": {"url": ""}}, "[database].url"),
    ],
)
def test_bad_values_name_the_key(data, names):
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert names in str(error.value)


def test_broken_toml_and_missing_file_are_clear(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[policy\ncollect_from = 15:15\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_cli_exits_2_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\ncollect_from = "3pm"\n')
    result = run_cli(bad, "status", check=False)
    assert result.returncode == 2
    assert "[policy].collect_from" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_kiosk_refuses_unknown_key_before_touching_hardware(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[gpio]\npin_factory = "mock"\nlock_pin = 17\n')
    result = run_cli(bad, "kiosk", check=False)
    assert result.returncode == 2
    assert "[gpio].lock_pin: unknown key" in result.stderr


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("[locker]\nunlock_seconds = inf\n", "[locker].unlock_seconds: expected a number from"),
        ("[locker]\nunlock_seconds = nan\n", "[locker].unlock_seconds"),
        ("[locker]\nunlock_seconds = 1e9\n", "[locker].unlock_seconds"),
        ("[policy]\ngrace_seconds = inf\n", "[policy].grace_seconds"),
        ("[policy]\ndebounce_seconds = -inf\n", "[policy].debounce_seconds"),
        ("[web]\noffline_after_seconds = nan\n", "[web].offline_after_seconds"),
        ("[retention]\nevents_months = 99999999999\n", "[retention].events_months"),
        ("[[locker.bays]]\nnumber = 9223372036854775807\nlock_pin = 17\n",
         "[[locker.bays]] #1.number: expected a whole number from 1 to 999"),
        ('[database]\nurl = "not a url"\n', "[database].url: 'not a url' is not a database URL"),
        ('[database]\nurl = "mysql://u@h/db"\n', "[database].url: database 'mysql' is not"),
    ],
)
def test_values_that_make_no_sense_are_refused(tmp_path, toml, names):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert names in str(error.value)


def test_limits_themselves_are_accepted():
    config = parse_config({"locker": {"unlock_seconds": 120}, "policy": {"grace_seconds": 0}})
    assert config.locker.unlock_seconds == 120 and config.policy.grace_seconds == 0
    assert parse_config({"database": {"url": "postgresql+psycopg://u@/db"}}).database.url


def test_secret_key_file_must_be_a_long_enough_regular_file(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"\[web\].secret_key_file: .* is not a regular file"):
        parse_config({"web": {"secret_key_file": str(folder)}})
    short = tmp_path / "short"
    short.write_bytes(b"x" * 31)
    with pytest.raises(ConfigError, match="holds 31 bytes, fewer than 32"):
        parse_config({"web": {"secret_key_file": str(short)}})
    good = tmp_path / "good"
    good.write_bytes(b"x" * 32)
    assert parse_config({"web": {"secret_key_file": str(good)}}).web.secret_key_file == str(good)
    # a missing file is made by the dashboard on first start
    assert parse_config({"web": {"secret_key_file": str(tmp_path / "new")}})


@pytest.mark.parametrize("toml", [
    '[database]\nurl = "not a url"\n',
    "[locker]\nunlock_seconds = inf\n",
])
def test_cli_config_errors_are_one_line_and_exit_2(tmp_path, toml):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    result = run_cli(path, "status", check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
