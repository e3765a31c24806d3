"""``phonelocker notify`` and ``users --email`` as real subprocesses; the [notify] config.

The subprocesses keep the real clock, so their scenarios do not depend on
the day: a notice queued in this process at a fixed past instant is due at
any real "now", and a run on a closed day still sends what is queued.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kiosk.config import load_config, parse_config
from kiosk.config_values import ConfigError
from kiosk.notify.finder import find_all
from kiosk.notify.outbox import queue
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Notice
from kiosk.timeutil import naive_utc

from .conftest import run_cli, write_config
from .notify_helpers import SmtpServer, at, notify_config, seed_school

PASSWORD = "a long enough passphrase"


def _queue_forced_door(config) -> Database:
    """A forced door on Tuesday 2 December 2025, queued for the office (not sent)."""
    database = Database(config.database.url)
    database.upgrade()
    now = at("2025-12-02T12:00:00")
    with database.session() as session:
        seed_school(session)
        find_all(session, config, now)  # the events cursor starts here
        record_event(session, Kind.FORCED_DOOR, at=naive_utc(now), locker_id="locker-1", bay=2)
        assert len(queue(session, find_all(session, config, now), now)) == 1
        session.commit()
    return database


def test_notify_subprocess_sends_what_is_queued_once(tmp_path):
    with SmtpServer() as smtp:
        path, config = notify_config(tmp_path, smtp.port)
        database = _queue_forced_door(config)

        dry = run_cli(path, "notify", "--dry-run")
        assert "would send to office@school.example: Phone Locker: Year 6 locker: door " \
               "forced open (bay 2) at 12:00" in dry.stdout
        assert "    A door of Year 6 locker (bay 2) was opened" in dry.stdout
        assert smtp.mailbox.messages == []

        first = run_cli(path, "notify")
        second = run_cli(path, "notify")

        assert "sent to office@school.example" in first.stdout
        assert "sent to" not in second.stdout
        assert [m["To"] for m in smtp.mailbox.messages] == ["office@school.example"]
        assert "at 12:00" in smtp.mailbox.messages[0]["Subject"]
    with database.session() as session:
        (notice,) = session.scalars(select(Notice))
        assert notice.status == "sent" and notice.attempts == 1
    assert "nothing to send" in run_cli(path, "notify", "--dry-run").stdout
    database.dispose()


def test_notify_subprocess_exits_1_and_keeps_the_notice_when_the_server_refuses(tmp_path):
    with SmtpServer() as smtp:
        smtp.mailbox.mode = "refuse"
        path, config = notify_config(tmp_path, smtp.port)
        database = _queue_forced_door(config)
        result = run_cli(path, "notify", check=False)
        assert result.returncode == 1
        assert "not sent to office@school.example (attempt 1" in result.stderr
        assert "550 5.1.1 mailbox unavailable" in result.stderr
        doctor = run_cli(path, "doctor", check=False)
        assert "✗ notify: 1 notice(s) failing" in doctor.stdout
        assert "last error:" in doctor.stdout and "550" in doctor.stdout
    with database.session() as session:
        (notice,) = session.scalars(select(Notice))
        assert notice.status == "pending" and notice.last_error
    database.dispose()


def test_notify_without_a_notify_section_says_so_and_exits_0(tmp_path):
    path = write_config(tmp_path)
    run_cli(path, "db", "upgrade")
    result = run_cli(path, "notify")
    assert "no [notify] section" in result.stdout


def test_a_bad_notify_key_is_named_and_exits_2(tmp_path):
    path = write_config(tmp_path, '[notify]\nhost = "mail"\nfrom = "a@b.example"\nofice = []\n')
    result = run_cli(path, "notify", check=False)
    assert result.returncode == 2
    assert "[notify].ofice: unknown key" in result.stderr


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('host = "m"', "[notify].from: required"),
        ('from = "a@b.example"', "[notify].host: required"),
        ('host = "m"\nfrom = "not an address"', "[notify].from: 'not an address' is not"),
        ('host = "m"\nfrom = "a@b.example"\noffice = "o@b.example"',
         "[notify].office: expected a list"),
        ('host = "m"\nfrom = "a@b.example"\nit = ["it@b.example", "bad@"]',
         "[notify].it: 'bad@' is not an email address"),
        ('host = "m"\nfrom = "a@b.example"\nusername = "u"',
         "username and password_file: give both"),
        ('host = "m"\nfrom = "a@b.example"\nport = 70000',
         "[notify].port: expected a whole number from 1 to 65535"),
        ('host = "m"\nfrom = "a@b.example"\nnot_collected_after_minutes = -1',
         "[notify].not_collected_after_minutes: expected a whole number from 0 to 1440"),
        ('host = "m"\nfrom = "a@b.example"\nday_starts = "18:00"',
         "[notify].day_ends: must be later"),
    ],
)
def test_notify_config_errors_name_the_key(body, message):
    import tomllib

    with pytest.raises(ConfigError) as error:
        parse_config(tomllib.loads("[notify]\n" + body))
    assert message in str(error.value)


def test_notify_config_defaults_and_absent_section():
    assert parse_config({}).notify is None
    notify = parse_config({"notify": {"host": "smtp.school.example",
                                      "from": "pl@school.example"}}).notify
    assert (notify.port, notify.starttls, notify.not_collected_after_minutes) == (587, True, 30)
    assert notify.office == () and notify.username is None and notify.password_file is None
    plain = parse_config({"notify": {"host": "m", "from": "a@b.example", "starttls": False,
                                     "office": ["o@b.example", "o@b.example"]}}).notify
    assert plain.port == 25 and plain.office == ("o@b.example",)


def test_the_shipped_example_documents_every_notify_key():
    import tomllib
    from pathlib import Path

    import kiosk
    from kiosk.config import NOTIFY_KEYS

    text = Path(kiosk.__file__).with_name("example-config.toml").read_text()
    block = text[text.index("# [notify]"):]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines()
                            if line.startswith("# ") and "=" in line
                            and not line.startswith("# ("))
    data = tomllib.loads("[notify]\n" + uncommented)
    assert set(data["notify"]) == NOTIFY_KEYS
    config = parse_config(data)
    assert config.notify.password_file == "/etc/phonelocker/smtp_password"


def test_password_file_is_read_when_sending(tmp_path):
    from kiosk.notify.outbox import DeliveryError
    from kiosk.notify.smtp import read_password

    secret = tmp_path / "smtp_password"
    secret.write_text("s3cret value\n")
    assert read_password(str(secret)) == "s3cret value"
    with pytest.raises(DeliveryError, match="cannot read \\[notify\\] password_file"):
        read_password(str(tmp_path / "missing"))


# --- users --email ------------------------------------------------------------------


def test_users_create_and_set_email(tmp_path):
    path = write_config(tmp_path)
    run_cli(path, "db", "upgrade")
    database = Database(load_config(path).database.url)
    with database.session() as session:
        seed_school(session)
    bad = run_cli(path, "users", "create", "mrsk", "--role", "teacher", "--class", "6K",
                  "--email", "k@", "--password-stdin", input=PASSWORD + "\n", check=False)
    assert bad.returncode == 1 and "'k@' is not an email address" in bad.stderr
    run_cli(path, "users", "create", "mrsk", "--role", "teacher", "--class", "6K",
            "--email", "K@School.example", "--password-stdin", input=PASSWORD + "\n")
    rows = json.loads(run_cli(path, "users", "list", "--json").stdout)
    assert rows[0]["email"] == "K@School.example"

    changed = run_cli(path, "users", "set-email", "mrsk", "k2@school.example")
    assert "email k2@school.example" in changed.stdout
    assert "<k2@school.example>" in run_cli(path, "users", "list").stdout
    cleared = run_cli(path, "users", "set-email", "mrsk", "--clear")
    assert "email removed" in cleared.stdout
    assert json.loads(run_cli(path, "users", "list", "--json").stdout)[0]["email"] is None
    usage = run_cli(path, "users", "set-email", "mrsk", check=False)
    assert usage.returncode == 2 and "give an ADDRESS, or --clear" in usage.stderr
    database.dispose()
