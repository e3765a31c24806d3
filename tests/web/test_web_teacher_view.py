"""What a teacher sees: no card numbers, classes the school has, no false all-clear."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from kiosk.cli.main import cli
from kiosk.store.models import KioskStatus, StaffClass, StaffUser
from web.access import ANOTHER_CLASS, UNKNOWN_CARD

from .conftest import AMARA_CARD, LOCKER, PASSWORD, local_clock, login

GOOD = "a long enough passphrase"
STRANGER = "04DEADBEEF0001"


def set_last_tap(db, uid: str) -> None:
    with db.session() as session:
        status = session.get(KioskStatus, LOCKER)
        status.last_tap_uid = uid
        session.commit()


def everything(client) -> tuple[str, dict, dict]:
    """The Today page, /api/today and /api/lockers as this client gets them."""
    return (client.get("/").get_data(as_text=True), client.get("/api/today").get_json(),
            client.get("/api/lockers").get_json())


@pytest.mark.parametrize("username, who", [
    ("teacher6k", "Amara Okafor"),  # their own pupil: the name, still no number
    ("teacher5r", ANOTHER_CLASS),
])
def test_a_teacher_never_gets_a_card_number(as_user, heartbeat, username, who):
    heartbeat()  # the last tap was Amara's card (6K)
    page, today, lockers = everything(as_user(username))
    assert AMARA_CARD not in page
    assert AMARA_CARD not in json.dumps(today) and AMARA_CARD not in json.dumps(lockers)
    for data in (today, lockers):
        (locker,) = data["lockers"]
        assert locker["last_tap_uid"] is None and locker["last_tap_who"] == who
    assert who in page and who in lockers["html"]["lockers"]


def test_office_and_admin_see_the_card_number(make_app, heartbeat):
    heartbeat()
    for username in ("office", "admin"):
        client = make_app().test_client()
        login(client, username)
        page, today, lockers = everything(client)
        assert f"<code>{AMARA_CARD}</code>" in page
        assert today["lockers"][0]["last_tap_uid"] == AMARA_CARD
        assert lockers["lockers"][0]["last_tap_who"] == "Amara Okafor"


def test_an_unknown_card_is_named_as_such(as_user, heartbeat, db):
    heartbeat()
    set_last_tap(db, STRANGER)
    page, today, _lockers = everything(as_user("teacher6k"))
    assert STRANGER not in page and STRANGER not in json.dumps(today)
    assert today["lockers"][0]["last_tap_who"] == UNKNOWN_CARD and UNKNOWN_CARD in page


# --- classes --------------------------------------------------------------------------------


def test_admin_pages_save_the_schools_spelling_and_refuse_unknown_classes(as_user, db, ids):
    client = as_user("admin")
    client.post("/admin/users/new", data={
        "username": "mrs.k", "role": "teacher", "classes": "6k, 5r, 6K", "password": PASSWORD,
        "again": PASSWORD})
    refused = client.post("/admin/users/new", data={
        "username": "mr.x", "role": "teacher", "classes": "6X", "password": PASSWORD,
        "again": PASSWORD}, follow_redirects=True).get_data(as_text=True)
    assert "no class called 6X" in refused and "the classes are: 5R, 6K" in refused
    edited = client.post(f"/admin/users/{ids['teacher5r']}", data={
        "role": "teacher", "classes": "5R, 7Q", "active": "1"}, follow_redirects=True)
    assert "no class called 7Q" in edited.get_data(as_text=True)
    client.post(f"/admin/users/{ids['teacher5r']}",
                data={"role": "teacher", "classes": "6k", "active": "1"})
    with db.session() as session:
        def classes(name):
            user = session.scalars(select(StaffUser).where(StaffUser.username == name)).one()
            return sorted(c.class_name for c in user.classes)

        assert classes("mrs.k") == ["5R", "6K"]
        assert classes("teacher5r") == ["6K"]
        assert session.scalars(select(StaffUser).where(StaffUser.username == "mr.x")).first() \
            is None


def test_users_create_matches_classes_ignoring_case(tmp_path, db):
    config_file = tmp_path / "cli.toml"
    config_file.write_text(f'[database]\nurl = "{db.url}"\n', encoding="utf-8")

    def run(*args):
        return CliRunner().invoke(cli, ["--config", str(config_file), "users", *args],
                                  input=GOOD + "\n")

    result = run("create", "mr.jones", "--role", "teacher", "--class", "6k", "--password-stdin")
    assert result.exit_code == 0, result.output
    result = run("create", "mr.smith", "--role", "teacher", "--class", "6X", "--password-stdin")
    assert result.exit_code == 1
    assert "no class called 6X in the school; the classes are: 5R, 6K" in result.output
    listed = json.loads(run("list", "--json").output)
    assert {"username": "mr.jones", "role": "teacher", "active": True,
            "classes": ["6K"], "email": None} in listed
    assert "mr.smith" not in {row["username"] for row in listed}


def test_an_account_with_no_pupils_never_sees_an_all_clear(make_app, db):
    # As saved before classes were checked: a class the school does not have.
    with db.session() as session:
        user = StaffUser(username="teacher6x", role="teacher", active=True,
                         password_hash=generate_password_hash(PASSWORD, method="scrypt:1024:8:1"))
        user.classes = [StaffClass(class_name="6X")]
        session.add(user)
        session.commit()
    for hour in (10, 16):  # before and after collection time
        client = make_app(CLOCK=local_clock(hour)).test_client()
        login(client, "teacher6x")
        page = client.get("/").get_data(as_text=True)
        data = client.get("/api/today").get_json()
        assert data["no_pupils"] is True and data["pupils"] == []
        for text in (page, data["html"]["summary"]):
            assert "No pupils in your classes." in text
            assert "Every pupil allowed a phone has handed one in" not in text
            assert "Every phone has been collected" not in text


def test_a_teacher_with_pupils_still_gets_the_all_clear(make_app):
    client = make_app(CLOCK=local_clock(16)).test_client()
    login(client, "teacher5r")  # 5R's phones: none in the locker
    summary = client.get("/api/today").get_json()["html"]["summary"]
    assert "Every phone has been collected." in summary
    assert "No pupils" not in summary
