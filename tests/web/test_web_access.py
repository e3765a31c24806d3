"""Authorization matrix: every route x anonymous, teacher, office and admin.

ROUTES lists every route of the app with the status each role must get;
``test_matrix_covers_every_route`` fails when a route is added without a row.
A teacher (of 6K) gets 404 for a 5R pupil, 403 for office and admin pages.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.school.commands import queue_unlock
from kiosk.store.models import Command

from .conftest import AMARA_CARD, PASSWORD

NEW_PASSWORD = "another long passphrase"

# method, path, form data, status for teacher (of 6K), office, admin
ROUTES = [
    ("GET", "/", None, 200, 200, 200),
    ("GET", "/api/today", None, 200, 200, 200),
    ("GET", "/api/lockers", None, 200, 200, 200),
    ("GET", "/today/class/6K", None, 200, 200, 200),
    ("GET", "/today/class/5R", None, 404, 200, 200),
    ("GET", "/account/password", None, 200, 200, 200),
    ("POST", "/account/password", {"current": "wrong"}, 200, 200, 200),
    ("GET", "/pupils", None, 200, 200, 200),
    ("GET", "/pupils/{amara}", None, 200, 200, 200),
    ("GET", "/pupils/{harry}", None, 404, 200, 200),
    ("GET", "/pupils/new", None, 403, 200, 200),
    ("POST", "/pupils/new", {"name": "Zed New", "year": "6", "class_name": "6K"}, 403, 302, 302),
    ("GET", "/pupils/{amara}/edit", None, 403, 200, 200),
    ("POST", "/pupils/{amara}/edit", {"name": "Amara O", "year": "6", "class_name": "6K"},
     403, 302, 302),
    ("POST", "/pupils/{amara}/active", {"active": "1"}, 403, 302, 302),
    ("POST", "/pupils/{amara}/enrol", {}, 403, 302, 302),
    ("POST", "/pupils/{isla}/cards", {"uid": "04AA0000000001"}, 403, 302, 302),
    ("POST", "/pupils/{amara}/cards/revoke", {"uid": AMARA_CARD, "reason": "lost"}, 403, 302, 302),
    ("POST", "/pupils/{harry}/approval", {"by": "Mrs Head"}, 403, 302, 302),
    ("POST", "/pupils/{harry}/approval/revoke", {"reason": "ended"}, 403, 302, 302),
    ("GET", "/pupils/search", None, 403, 200, 200),
    ("GET", "/pupils/import", None, 403, 200, 200),
    ("POST", "/pupils/import", {}, 403, 302, 302),
    ("POST", "/pupils/import/confirm", {"token": "x" * 24}, 403, 302, 302),
    ("GET", "/office", None, 403, 200, 200),
    ("POST", "/office/unlock", {"target": "all", "reason": "fire drill"}, 403, 302, 302),
    ("POST", "/office/release", {"pupil_id": "{amara}", "reason": "dentist"}, 403, 302, 302),
    ("POST", "/office/handback", {"pupil_id": "{xss}", "kind": "office_return", "reason": "mum"},
     403, 302, 302),
    ("GET", "/api/commands/{command}", None, 403, 200, 200),
    ("GET", "/exceptions", None, 200, 200, 200),
    ("POST", "/exceptions", {"pupil_id": "{amara}", "kind": "medical", "reason": "monitor",
                             "agreed_by": "Mrs Head"}, 403, 302, 302),
    ("POST", "/exceptions/999/end", {"reason": "reviewed"}, 403, 404, 404),
    ("GET", "/arrangements", None, 403, 200, 200),
    ("POST", "/arrangements", {"staff": "Mr A", "what": "MFA codes", "agreed_by": "Mrs Head"},
     403, 302, 302),
    ("POST", "/arrangements/999/end", {"reason": "ended"}, 403, 404, 404),
    ("POST", "/office/open-all", {"reason": "fire", "confirm": "not the words"}, 403, 302, 302),
    ("GET", "/office/open-all/999999", None, 403, 404, 404),
    ("GET", "/calendar", None, 403, 200, 200),
    ("POST", "/calendar/set", {"date": "2099-12-18", "mode": "closed", "reason": "INSET"},
     403, 302, 302),
    ("POST", "/calendar/clear", {"date": "2099-12-18"}, 403, 302, 302),
    ("POST", "/calendar/import", {}, 403, 302, 302),
    ("POST", "/calendar/close-early", {"reason": "snow"}, 403, 302, 302),
    ("GET", "/history", None, 200, 200, 200),
    ("GET", "/history.csv", None, 200, 200, 200),
    ("GET", "/reports", None, 200, 200, 200),
    ("GET", "/reports.csv", None, 200, 200, 200),
    ("GET", "/reports/report.css", None, 200, 200, 200),
    ("GET", "/admin/users", None, 403, 403, 200),
    ("GET", "/admin/users/new", None, 403, 403, 200),
    ("POST", "/admin/users/new", {"username": "newbie", "role": "teacher", "classes": "6K",
                                  "password": NEW_PASSWORD, "again": NEW_PASSWORD}, 403, 403, 302),
    ("GET", "/admin/users/{teacher5r}", None, 403, 403, 200),
    ("POST", "/admin/users/{teacher5r}", {"role": "teacher", "classes": "5R", "active": "1"},
     403, 403, 302),
    ("POST", "/admin/users/{teacher5r}/password", {"password": NEW_PASSWORD, "again": NEW_PASSWORD},
     403, 403, 302),
    ("GET", "/admin/settings", None, 403, 403, 200),
    ("GET", "/emulator", None, 200, 200, 200),
    ("GET", "/screen", None, 200, 200, 200),
    ("GET", "/api/screen", None, 200, 200, 200),
    ("GET", "/api/emulator", None, 200, 200, 200),
    ("POST", "/emulator/tap", {"pupil_id": "{xss}"}, 302, 302, 302),
    ("GET", "/login", None, 302, 302, 302),  # already signed in: on to Today
    ("POST", "/login", {"username": "nobody", "password": "wrong password"}, 401, 401, 401),
    ("POST", "/logout", {}, 302, 302, 302),  # last: it ends the session
]
ROLES = {"teacher": "teacher6k", "office": "office", "admin": "admin"}
PUBLIC = {("GET", "/login"): 200, ("POST", "/login"): 401}
#: the test client asks from 127.0.0.1, as the Pi's own screen does (see test_web_screen.py)
PUBLIC |= {("GET", "/screen"): 200, ("GET", "/api/screen"): 200}


@pytest.fixture
def command_id(db, heartbeat) -> int:
    heartbeat()
    with db.session() as session:
        (command,) = queue_unlock(session, actor="office", reason="test", locker_id="locker-1")
        session.commit()
        return command.id


def _request(client, method, path, data, ids, command_id):
    values = {**ids, "command": command_id}
    url = path.format(**values)
    form = {key: value.format(**values) for key, value in (data or {}).items()}
    return url, client.open(url, method=method, data=form)


def test_matrix_covers_every_route(app):
    listed = set()
    adapter = app.url_map.bind("localhost")
    for method, path, *_ in ROUTES:
        endpoint, _args = adapter.match(path.format_map({"amara": 1, "harry": 1, "isla": 1,
                                                         "xss": 1, "teacher5r": 1, "command": 1}),
                                        method=method)
        listed.add((endpoint, method))
    every = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert every - listed == set(), "routes missing from the matrix"
    assert listed - every == set()


@pytest.mark.parametrize("role", list(ROLES))
def test_matrix(role, client, ids, as_user, command_id):
    as_user(ROLES[role])
    column = list(ROLES).index(role)
    failures = []
    for method, path, data, *expected in ROUTES:
        url, response = _request(client, method, path, data, ids, command_id)
        want = expected[column]
        if response.status_code != want:
            failures.append(f"{method} {url}: {response.status_code}, expected {want}")
        elif want == 302 and path not in ("/logout",):
            location = response.headers["Location"]
            if location.startswith("/login"):
                failures.append(f"{method} {url}: sent to the login page")
    assert failures == []


def test_anonymous_is_sent_to_login_everywhere(client, ids, command_id, db):
    with db.session() as session:
        commands_before = session.scalar(select(Command.id).order_by(Command.id.desc()))
    for method, path, data, *_ in ROUTES:
        url, response = _request(client, method, path, data, ids, command_id)
        public = PUBLIC.get((method, path))
        if public is not None:
            assert response.status_code == public, url
            continue
        assert response.status_code == 302, f"{method} {url}"
        assert response.headers["Location"].startswith("/login"), f"{method} {url}"
    with db.session() as session:  # nothing was queued by an anonymous POST
        assert session.scalar(select(Command.id).order_by(Command.id.desc())) == commands_before


def test_login_page_brings_you_back(client):
    response = client.get("/history?kind=override")
    assert response.headers["Location"] == "/login?next=/history?kind%3Doverride"
    response = client.post("/login", data={"username": "office", "password": PASSWORD,
                                           "next": "/history?kind=override"})
    assert response.headers["Location"] == "/history?kind=override"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_login_never_redirects_off_site(client, target):
    response = client.post("/login", data={"username": "office", "password": PASSWORD,
                                           "next": target})
    assert response.headers["Location"] == "/"


def test_teacher_sees_only_their_classes(as_user, ids):
    client = as_user("teacher6k")
    today = client.get("/api/today").get_json()
    assert {p["class"] for p in today["pupils"]} == {"6K"}
    page = client.get("/").get_data(as_text=True)
    assert "Amara Okafor" in page and "Grace Mensah" not in page and "Class 5R" not in page
    assert "Grace Mensah" not in client.get("/pupils").get_data(as_text=True)
    assert "Harry Lee" not in client.get("/pupils?class=5R").get_data(as_text=True)
    history = client.get("/history?from=2000-01-01").get_data(as_text=True)
    assert "Harry Lee" not in history and "Amara Okafor" in history
    assert "Harry Lee" not in client.get(f"/history?pupil={ids['harry']}").get_data(as_text=True)
    assert "Harry Lee" not in client.get("/history.csv?from=2000-01-01").get_data(as_text=True)
    emulator = client.get("/emulator").get_data(as_text=True)
    assert "Amara Okafor" in emulator and "Harry Lee" not in emulator
    assert client.post("/emulator/tap", data={"pupil_id": ids["harry"]}).status_code == 404


def test_teacher_cannot_unlock(as_user, db, heartbeat):
    heartbeat()
    client = as_user("teacher6k")
    response = client.post("/office/unlock", data={"target": "all", "reason": "let me in"})
    assert response.status_code == 403
    with db.session() as session:
        assert session.scalars(select(Command)).all() == []
    assert b"Office" not in client.get("/").data.split(b"<main")[0]  # no Office link


def test_disabled_account_loses_its_session(as_user, db, ids):
    client = as_user("teacher6k")
    assert client.get("/").status_code == 200
    from kiosk.store.models import StaffUser

    with db.session() as session:
        session.get(StaffUser, ids["teacher6k"]).active = False
        session.commit()
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.post("/login", data={"username": "teacher6k", "password": PASSWORD}
                       ).status_code == 401
