"""``phonelocker users`` and ``web`` commands, and the demo's accounts (CliRunner, real SQLite)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kiosk.cli.main import cli
from kiosk.school.staff import authenticate
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Event, StaffUser
from web.demo import DEMO_ACCOUNTS, ensure_demo_accounts

GOOD = "a long enough passphrase"


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n'
        f'[web]\nsecret_key_file = "{tmp_path}/secret_key"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli_db(tmp_path, config_file, db):
    # Reuse the seeded school: copy it to where the config file points.
    import shutil

    db.dispose()
    shutil.copy(db.url.removeprefix("sqlite:///"), tmp_path / "cli.db")
    database = Database(f"sqlite:///{tmp_path}/cli.db")
    yield database
    database.dispose()


def run(config_file, *args, stdin: str | None = None):
    return CliRunner().invoke(cli, ["--config", str(config_file), *args], input=stdin)


def test_users_create_from_stdin_and_prompt(config_file, cli_db):
    result = run(config_file, "users", "create", "Mr.Jones", "--role", "teacher", "--class", "6K",
                 "--password-stdin", "--by", "head", stdin=GOOD + "\n")
    assert result.exit_code == 0, result.output
    assert "created mr.jones (teacher)" in result.output
    result = run(config_file, "users", "create", "bursar", "--role", "office",
                 stdin=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.output
    assert GOOD not in result.output  # the prompt hides it
    with cli_db.session() as session:
        assert authenticate(session, "mr.jones", GOOD).role == "teacher"
        assert authenticate(session, "bursar", GOOD).role == "office"
        event = session.scalars(select(Event).where(Event.kind == Kind.USER_CREATED)
                                .order_by(Event.id)).first()
    assert event.actor == "head"


@pytest.mark.parametrize("password, message", [
    ("short", "at least 10 characters"),
    ("password123", "too common"),
    ("mrjones-is-me", "must not contain the username"),
])
def test_users_create_refuses_weak_passwords(config_file, cli_db, password, message):
    result = run(config_file, "users", "create", "mrjones", "--role", "admin",
                 "--password-stdin", stdin=password + "\n")
    assert result.exit_code == 1
    assert message in result.output
    with cli_db.session() as session:
        assert session.scalars(select(StaffUser).where(StaffUser.username == "mrjones")
                               ).first() is None


def test_users_create_refuses_a_duplicate_and_a_bad_role(config_file, cli_db):
    result = run(config_file, "users", "create", "office", "--role", "office",
                 "--password-stdin", stdin=GOOD + "\n")
    assert result.exit_code == 1 and "already an account called office" in result.output
    result = run(config_file, "users", "create", "x1", "--role", "head", "--password-stdin")
    assert result.exit_code == 2


def test_users_list_set_password_disable_enable(config_file, cli_db):
    listed = json.loads(run(config_file, "users", "list", "--json").output)
    assert {"username": "teacher6k", "role": "teacher", "active": True,
            "classes": ["6K"], "email": None} in listed
    result = run(config_file, "users", "set-password", "office", "--password-stdin",
                 stdin="the front desk's new phrase\n")
    assert result.exit_code == 0, result.output
    assert run(config_file, "users", "disable", "office").exit_code == 0
    with cli_db.session() as session:
        assert authenticate(session, "office", "the front desk's new phrase") is None
    assert run(config_file, "users", "enable", "office").exit_code == 0
    with cli_db.session() as session:
        assert authenticate(session, "office", "the front desk's new phrase").username == "office"
    assert run(config_file, "users", "disable", "nobody").exit_code == 1
    assert "office" in run(config_file, "users", "list").output


def test_web_command_is_registered():
    result = CliRunner().invoke(cli, ["web", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output
    assert "--trusted-proxy" in result.output


def test_there_are_no_default_accounts(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/empty.db")
    database.upgrade()
    with database.session() as session:
        assert session.scalars(select(StaffUser)).all() == []
    database.dispose()


def test_demo_accounts_get_new_passwords_each_start(db):
    first = ensure_demo_accounts(db)
    assert set(first) == {name for name, _role, _classes in DEMO_ACCOUNTS}
    with db.session() as session:
        hashes = {u.username: u.password_hash for u in session.scalars(select(StaffUser))}
    second = ensure_demo_accounts(db)
    with db.session() as session:
        for user in session.scalars(select(StaffUser).where(StaffUser.username.in_(first))):
            assert user.password_hash != hashes[user.username]
        assert authenticate(session, "teacher6k", first["teacher6k"]) is None
        teacher = authenticate(session, "teacher6k", second["teacher6k"])
        assert [c.class_name for c in teacher.classes] == ["6K"]


def test_web_serves_the_dashboard_with_waitress(tmp_path, db):
    import os
    import stat
    import subprocess
    import time
    import urllib.request

    from kiosk.devtools.ports import free_port

    from ..conftest import PHONELOCKER

    port = free_port()
    config = tmp_path / "web.toml"
    config.write_text(f'[database]\nurl = "{db.url}"\n'
                      f'[web]\nsecret_key_file = "{tmp_path}/var/secret_key"\n', encoding="utf-8")
    process = subprocess.Popen([PHONELOCKER, "--config", str(config), "web", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1) as answer:
                    headers, status = answer.headers, answer.status
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.1)
        assert status == 200
        assert headers["Server"] == "phonelocker"  # waitress, not the Flask dev server
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        key = tmp_path / "var" / "secret_key"
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "created a new secret key" in output
