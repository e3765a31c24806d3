"""CSRF, security headers, cookies, session renewal and logout, login rate limit, upload limit."""

from __future__ import annotations

import logging
import os
import re
import stat

import pytest
from sqlalchemy import select

from kiosk.store.events import Kind
from kiosk.store.models import Command, Event
from web.security import LoginLimiter, load_secret_key

from .conftest import PASSWORD, login
from .test_web_access import ROUTES, _request

COOKIE = "phonelocker_session"


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match[1]


@pytest.fixture
def csrf_client(make_app):
    return make_app(WTF_CSRF_ENABLED=True).test_client()


# --- CSRF ----------------------------------------------------------------------------------


def test_login_without_csrf_token_is_rejected(csrf_client):
    response = login(csrf_client, "office")
    assert response.status_code == 400
    assert "form has expired" in response.get_data(as_text=True)
    response = login(csrf_client, "office", csrf_token=csrf_token(csrf_client))
    assert response.status_code == 302


def test_every_post_without_a_token_is_rejected(csrf_client, ids, db, heartbeat):
    heartbeat()
    login(csrf_client, "admin", csrf_token=csrf_token(csrf_client))
    with db.session() as session:
        events_before = len(session.scalars(select(Event)).all())
    posts = [route for route in ROUTES if route[0] == "POST"]
    for method, path, data, *_ in posts:
        url, response = _request(csrf_client, method, path, data, ids, 1)
        assert response.status_code == 400, url
    with db.session() as session:
        assert session.scalars(select(Command)).all() == []
        assert len(session.scalars(select(Event)).all()) == events_before
    assert csrf_client.get("/").status_code == 200  # still signed in: logout was refused too


def test_unlock_with_token_works_and_token_from_another_session_does_not(
        make_app, csrf_client, db, heartbeat):
    heartbeat()
    login(csrf_client, "office", csrf_token=csrf_token(csrf_client))
    token = csrf_token(csrf_client, "/office")
    other = make_app(WTF_CSRF_ENABLED=True).test_client()
    login(other, "admin", csrf_token=csrf_token(other))
    form = {"target": "all", "reason": "fire drill", "csrf_token": token}
    assert other.post("/office/unlock", data=form).status_code == 400
    assert csrf_client.post("/office/unlock", data=form).status_code == 302
    with db.session() as session:
        (command,) = session.scalars(select(Command)).all()
        assert (command.actor, command.reason) == ("office", "fire drill")


def test_no_state_change_by_get(as_user, ids, db, heartbeat):
    heartbeat()
    client = as_user("admin")

    def snapshot():
        with db.session() as session:
            return (len(session.scalars(select(Event)).all()),
                    len(session.scalars(select(Command)).all()))

    before = snapshot()
    for method, path, data, *_ in ROUTES:
        if method == "GET":
            _request(client, method, path, data, ids, 1)
    assert snapshot() == before


# --- headers -----------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_response(as_user, ids, make_app):
    client = as_user("teacher6k")
    responses = {
        "page": client.get("/"),
        "json": client.get("/api/today"),
        "csv": client.get("/history.csv"),
        "static": client.get("/static/app.css"),
        "forbidden": client.get("/office"),
        "not found": client.get("/pupils/99999"),
        "other class": client.get(f"/pupils/{ids['harry']}"),
        "redirect": client.get("/login"),
        "bad request": client.post("/emulator/tap", data={"pupil_id": "x"}),
        "too large": client.post("/account/password", data={"current": "y" * (3 << 20)}),
    }
    anonymous = make_app().test_client()
    responses["login"] = anonymous.get("/login")
    responses["anonymous"] = anonymous.get("/")
    for name, response in responses.items():
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, name
        assert "frame-ancestors 'none'" in csp, name
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert headers.get("Referrer-Policy") == "same-origin", name
    assert responses["bad request"].status_code == 400
    assert responses["too large"].status_code == 413
    assert responses["page"].headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(as_user, ids):
    client = as_user("admin")
    for path in ["/", "/pupils", f"/pupils/{ids['harry']}", "/office", "/history", "/emulator",
                 "/admin/users", "/admin/settings", "/pupils/import", "/login"]:
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert " style=" not in page and "<style" not in page, path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", page), path


# --- cookies and sessions --------------------------------------------------------------


def test_session_cookie_flags(client, app):
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on the LAN: a Secure cookie would never be sent
    secure = app.test_client().get("/login", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in secure


def test_session_is_renewed_at_login(client):
    client.get("/login")
    before = client.get_cookie(COOKIE).value
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    assert login(client, "office").status_code == 302
    after = client.get_cookie(COOKIE).value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session and "user_id" in session
    # The id known before login is worth nothing now.
    client.set_cookie(COOKIE, before)
    assert client.get("/").headers["Location"].startswith("/login")
    client.set_cookie(COOKIE, after)
    assert client.get("/").status_code == 200


def test_logout_ends_the_session_on_the_server(client):
    login(client, "office")
    signed_in = client.get_cookie(COOKIE).value
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    client.set_cookie(COOKIE, signed_in)  # a copy of the cookie kept from before
    assert client.get("/").headers["Location"].startswith("/login")


# --- rate limit ----------------------------------------------------------------------------


def test_login_rate_limit(client, db, caplog):
    caplog.set_level(logging.WARNING, logger="web.auth")
    codes = [login(client, "office", "wrong password!").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    blocked = login(client, "office")  # even the right password, for now
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    assert "too many failures" in caplog.text
    assert login(client, "admin").status_code == 302  # another account is not blocked
    with db.session() as session:
        failed = session.scalars(select(Event).where(Event.kind == Kind.LOGIN_FAILED)).all()
    assert len(failed) == 5 and {e.actor for e in failed} == {"office"}


def test_rate_limit_is_per_address_and_window():
    now = [0.0]
    limiter = LoginLimiter(max_failures=2, window_seconds=60, clock=lambda: now[0])
    limiter.failed("office", "10.0.0.1")
    limiter.failed("OFFICE", "10.0.0.1")
    assert limiter.blocked("office", "10.0.0.1")
    assert not limiter.blocked("office", "10.0.0.2")
    now[0] = 61
    assert not limiter.blocked("office", "10.0.0.1")


def test_rate_limit_counts_an_address_across_usernames():
    limiter = LoginLimiter(max_failures=5, window_seconds=60, max_per_address=3,
                           clock=lambda: 0.0)
    for name in ("a1", "b2", "c3"):
        limiter.failed(name, "10.0.0.1")
    assert limiter.blocked("someone-else", "10.0.0.1")
    assert not limiter.blocked("someone-else", "10.0.0.2")
    limiter.succeeded("a1", "10.0.0.1")  # a success does not wipe the address's count
    assert limiter.blocked("a1", "10.0.0.1")


def test_one_address_trying_many_usernames_is_stopped(make_app):
    client = make_app(LOGIN_MAX_FAILURES_PER_ADDRESS=10).test_client()
    guesser = {"REMOTE_ADDR": "10.1.2.3"}
    codes = [client.post("/login", environ_base=guesser,
                         data={"username": f"user{n}", "password": "guess guess"}).status_code
             for n in range(12)]
    assert codes == [401] * 9 + [429] * 3
    right = client.post("/login", environ_base=guesser,
                        data={"username": "office", "password": PASSWORD})
    assert right.status_code == 429  # even a right password, from there, for now
    other = client.post("/login", environ_base={"REMOTE_ADDR": "10.1.2.4"},
                        data={"username": "office", "password": PASSWORD})
    assert other.status_code == 302


def test_successful_login_is_recorded(client, db):
    login(client, "office")
    with db.session() as session:
        (event,) = session.scalars(select(Event).where(Event.kind == Kind.LOGIN)).all()
    assert event.actor == "office"


def test_wrong_password_and_unknown_user_look_the_same(client):
    wrong = login(client, "office", "not the password")
    unknown = login(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password" in wrong.get_data(as_text=True)
    assert "Wrong username or password" in unknown.get_data(as_text=True)


def test_change_own_password(as_user):
    client = as_user("teacher6k")
    response = client.post("/account/password", data={
        "current": PASSWORD, "new": "password123", "again": "password123"})
    assert "too common" in response.get_data(as_text=True)
    response = client.post("/account/password", data={
        "current": PASSWORD, "new": "a new long passphrase", "again": "a new long passphrase"})
    assert response.status_code == 302
    client.post("/logout")
    assert login(client, "teacher6k").status_code == 401
    assert login(client, "teacher6k", "a new long passphrase").status_code == 302


# --- secret key ------------------------------------------------------------------------------


def test_secret_key_file_is_created_private_and_reused(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="web.security")
    path = tmp_path / "var" / "secret_key"
    key = load_secret_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "created a new secret key" in caplog.text
    assert load_secret_key(path) == key
