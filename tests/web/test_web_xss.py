"""A pupil called ``<script>alert(1)</script>`` is shown as text on every page that names them."""

from __future__ import annotations

import pytest

from .conftest import XSS, XSS_ESCAPED, local_clock, login

PAGES = [
    "/",
    "/pupils",
    "/pupils?class=6K",
    "/pupils/{xss}",
    "/pupils/{xss}/edit",
    "/history",
    "/history?kind=deposit",
    "/history?pupil={xss}",
    "/emulator",
]  # (/office names no pupil: its forms pick one by typing; see the "which one?" page below)


@pytest.mark.parametrize("username", ["teacher6k", "office"])
def test_pupil_name_is_escaped_everywhere(as_user, ids, username):
    client = as_user(username)
    for path in PAGES:
        response = client.get(path.format(**ids))
        if response.status_code == 403:  # the teacher has no office pages
            continue
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert XSS not in page, path
        assert XSS_ESCAPED in page, path


def test_live_update_html_is_escaped_too(make_app):
    client = make_app(CLOCK=local_clock(16, 0)).test_client()  # after collection time
    login(client, "office")
    data = client.get("/api/today").get_json()
    assert any(p["name"] == XSS for p in data["pupils"])  # JSON data carries the real name
    for name, html in data["html"].items():
        assert XSS not in html, name
    assert XSS_ESCAPED in data["html"]["classes"]
    assert XSS_ESCAPED in data["html"]["summary"]  # in the locker: listed as not collected later
    assert client.get("/api/today").headers["Content-Type"] == "application/json"


def test_event_reason_and_command_result_are_escaped(as_user, ids, db, heartbeat):
    heartbeat()
    client = as_user("office")
    client.post("/office/release", data={"pupil_id": ids["amara"], "reason": XSS})
    page = client.get(f"/pupils/{ids['amara']}").get_data(as_text=True)
    assert XSS not in page and XSS_ESCAPED in page
    history = client.get("/history").get_data(as_text=True)
    assert XSS not in history


def test_flash_messages_escape_the_name(as_user, ids):
    client = as_user("office")
    response = client.post(f"/pupils/{ids['xss']}/cards", data={"uid": "04BB0000000001"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "assigned to " + XSS_ESCAPED in page
    assert XSS not in page


def test_csv_export_defuses_spreadsheet_formulas(as_user, ids):
    client = as_user("office")
    client.post("/office/release", data={"pupil_id": ids["amara"], "reason": "=HYPERLINK(1)"})
    text = client.get("/history.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in text
    assert ",=HYPERLINK" not in text


def test_the_which_one_page_and_the_picker_search_keep_the_name_text(as_user):
    client = as_user("office")
    page = client.post("/office/release", data={"pupil": "r", "reason": XSS}).get_data(
        as_text=True)
    assert "Which pupil?" in page and XSS not in page
    assert XSS_ESCAPED in page  # the name among the choices, the reason carried over
    found = client.get("/pupils/search?q=script").get_json()
    assert [p["name"] for p in found] == [XSS]  # JSON carries the real name; app.js sets text
