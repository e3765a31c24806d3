"""Today, pupils, history, admin and emulator pages through the test client."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

from sqlalchemy import select

from kiosk.store.events import Kind
from kiosk.store.models import Event, Holding, Pupil, StaffUser

from .conftest import PASSWORD, XSS_CARD, local_clock, login

# --- Today -----------------------------------------------------------------------------------


def table(page: str) -> str:
    """The page's (first) table, without the filters and messages around it."""
    return page[page.index("<table"):page.index("</table>")]


def test_today_before_collection_time(make_app):
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, "office")
    page = client.get("/").get_data(as_text=True)
    assert "Not collected" not in page
    assert "in locker since" in page  # the seeded pupil's phone
    data = client.get("/api/today").get_json()
    assert not data["after_collection"] and data["collection_time"] == "15:15"
    assert data["counts"] == {"in_locker": 1, "collected": 0, "not_handed_in": 2,
                              "refused_taps": 1, "overnight": 0}
    names = [p["name"] for p in data["not_handed_in"]]
    assert names == ["Grace Mensah", "Amara Okafor"]  # Harry and Isla (Year 5) are not allowed
    assert data["lockers"][0]["id"] == "locker-1"


def test_today_after_collection_time_lists_not_collected(make_app):
    client = make_app(CLOCK=local_clock(15, 30)).test_client()
    login(client, "teacher6k")
    data = client.get("/api/today").get_json()
    assert data["after_collection"]
    assert [p["class"] for p in data["not_collected"]] == ["6K"]
    assert 'id="not-collected"' in data["html"]["summary"]


def test_overnight_phone_is_flagged(make_app, db, ids):
    with db.session() as session:
        holding = session.get(Holding, ids["xss"])
        holding.since -= timedelta(days=1)
        session.commit()
    client = make_app(CLOCK=local_clock(9, 0)).test_client()
    login(client, "office")
    data = client.get("/api/today").get_json()
    assert data["counts"]["overnight"] == 1
    assert "Kept overnight" in data["html"]["summary"]
    assert "kept overnight" in client.get("/").get_data(as_text=True)


def test_lockers_panel_shows_offline_and_unlocked(as_user, heartbeat):
    client = as_user("teacher6k")
    html = client.get("/api/lockers").get_json()["html"]["lockers"]
    assert "never seen" in html and "offline" in html
    heartbeat(locked=False)
    data = client.get("/api/lockers").get_json()
    assert data["lockers"][0]["bays"][0]["locked"] is False
    assert "unlocked" in data["html"]["lockers"] and "online" in data["html"]["lockers"]
    assert "Amara Okafor" in data["html"]["lockers"]  # last tap: own pupil, by name (no UID)


def test_today_page_polls_the_json_every_second(as_user):
    page = as_user("teacher6k").get("/").get_data(as_text=True)
    assert 'data-poll="/api/today" data-interval="1000"' in page
    assert '<script src="/static/app.js" defer></script>' in page


# --- pupils -----------------------------------------------------------------------------------


def test_add_edit_and_deactivate_a_pupil(as_user, db):
    client = as_user("office")
    response = client.post("/pupils/new", data={"name": "Nia Brown", "year": "6",
                                                "class_name": "6K", "card_uid": "04:99:88:77"})
    with db.session() as session:
        pupil = session.scalars(select(Pupil).where(Pupil.name == "Nia Brown")).one()
        assert pupil.cards[0].uid == "04998877"
    assert response.headers["Location"] == f"/pupils/{pupil.id}"
    client.post(f"/pupils/{pupil.id}/edit", data={"name": "Nia Brown-Smith", "year": "6",
                                                  "class_name": "6B", "bay": "2"})
    client.post(f"/pupils/{pupil.id}/active", data={"active": "0"})
    with db.session() as session:
        pupil = session.get(Pupil, pupil.id)
        assert (pupil.name, pupil.class_name, pupil.bay, pupil.active) == (
            "Nia Brown-Smith", "6B", 2, False)
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.pupil_id == pupil.id))]
    assert kinds == ["pupil_added", "enrol", "pupil_updated", "pupil_updated"]
    assert "Nia Brown-Smith" not in table(client.get("/pupils").get_data(as_text=True))
    assert "Nia Brown-Smith" in table(client.get("/pupils?left=1").get_data(as_text=True))


def test_bad_pupil_forms_say_why(as_user):
    client = as_user("office")
    page = client.post("/pupils/new", data={"name": "", "year": "6", "class_name": "6K"},
                       follow_redirects=True).get_data(as_text=True)
    assert "a pupil needs a name" in page
    page = client.post("/pupils/new", data={"name": "A", "year": "6", "class_name": "6K",
                                            "card_uid": "nope"}).get_data(as_text=True)
    assert "not a card UID" in page
    assert client.post("/pupils/new", data={"name": "A", "year": "six"}).status_code == 400


def test_pupil_page_shows_cards_and_history(as_user, ids):
    page = as_user("teacher6k").get(f"/pupils/{ids['xss']}").get_data(as_text=True)
    assert XSS_CARD in page and "handed in" in page and "pupil added" in page
    assert "Enrol a card" not in page and "Mark as left" not in page  # teachers change nothing


# --- history ------------------------------------------------------------------------------------


def test_history_filters(as_user, ids):
    client = as_user("office")
    page = table(client.get("/history?kind=refused").get_data(as_text=True))
    assert "Harry Lee" in page and "Amara Okafor" not in page
    page = table(client.get(f"/history?pupil={ids['amara']}").get_data(as_text=True))
    assert "Amara Okafor" in page and "Harry Lee" not in page
    page = table(client.get("/history?class=5R").get_data(as_text=True))
    assert "Harry Lee" in page and "Amara Okafor" not in page
    page = client.get("/history?from=2001-01-01&to=2001-01-02").get_data(as_text=True)
    assert "No events match" in page
    # a filter the page cannot read is refused with a message, not silently replaced
    response = client.get("/history?from=garbage")
    assert response.status_code == 400 and "is not a date YYYY-MM-DD" in response.text
    response = client.get("/history?kind=nonsense")
    assert response.status_code == 400 and "kind must be one of" in response.text


def test_history_csv_is_streamed(as_user):
    client = as_user("office")
    response = client.get("/history.csv?kind=deposit")
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["time", "kind", "pupil_id", "pupil", "class", "card", "locker", "bay",
                       "actor", "reason", "what", "where"]
    assert [row[1] for row in rows[1:]] == ["deposit"]
    assert rows[1][5] == XSS_CARD
    assert rows[1][10:] == ["handed in", "Test locker, bay 1"]


# --- admin ----------------------------------------------------------------------------------------


def test_admin_creates_a_teacher_with_classes(as_user, db):
    client = as_user("admin")
    weak = client.post("/admin/users/new", data={
        "username": "mrs.k", "role": "teacher", "classes": "6K", "password": "short",
        "again": "short"}, follow_redirects=True)
    assert "at least 10 characters" in weak.get_data(as_text=True)
    common = client.post("/admin/users/new", data={
        "username": "mrs.k", "role": "teacher", "classes": "6K", "password": "qwertyuiop",
        "again": "qwertyuiop"}, follow_redirects=True)
    assert "too common" in common.get_data(as_text=True)
    client.post("/admin/users/new", data={
        "username": "Mrs.K", "role": "teacher", "classes": "6K, 5R", "password": PASSWORD,
        "again": PASSWORD})
    with db.session() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "mrs.k")).one()
        assert sorted(c.class_name for c in user.classes) == ["5R", "6K"]
        assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
        event = session.scalars(select(Event).where(Event.kind == Kind.USER_CREATED)).one()
    assert event.actor == "admin" and "mrs.k" in event.reason
    other = client.application.test_client()
    assert login(other, "mrs.k").status_code == 302


def test_admin_cannot_lock_themselves_out(as_user, ids, db):
    client = as_user("admin")
    response = client.post(f"/admin/users/{ids['admin']}", data={"role": "office", "active": "1"},
                           follow_redirects=True)
    assert "cannot demote or disable your own account" in response.get_data(as_text=True)
    with db.session() as session:
        assert session.get(StaffUser, ids["admin"]).role == "admin"


def test_admin_disables_and_resets(as_user, ids, db):
    client = as_user("admin")
    client.post(f"/admin/users/{ids['teacher5r']}", data={"role": "teacher", "classes": "5R"})
    other = client.application.test_client()
    assert login(other, "teacher5r").status_code == 401  # disabled (no "active" box ticked)
    client.post(f"/admin/users/{ids['teacher5r']}", data={"role": "teacher", "classes": "5R",
                                                          "active": "1"})
    client.post(f"/admin/users/{ids['teacher5r']}/password",
                data={"password": "brand new passphrase", "again": "brand new passphrase"})
    assert login(other, "teacher5r", "brand new passphrase").status_code == 302


def test_settings_hide_a_database_password(make_app, tmp_path, as_user):
    page = as_user("admin").get("/admin/settings").get_data(as_text=True)
    assert "Europe/London" in page and "15:15" in page and "udp:127.0.0.1" in page


# --- emulator -------------------------------------------------------------------------------------


def wait_for(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_emulator_taps_the_pupils_card(as_user, ids, presented, heartbeat):
    heartbeat(locked=False)
    client = as_user("office")
    page = client.get("/emulator").get_data(as_text=True)
    assert "green on" in page and "unlocked" in page
    response = client.post("/emulator/tap", data={"pupil_id": ids["xss"]},
                           headers={"Accept": "application/json"})
    assert response.get_json() == {"message": f"card {XSS_CARD} tapped"}
    wait_for(lambda: presented == [XSS_CARD])
    wait_for(lambda: "read by the reader" in client.get("/api/emulator").get_data(as_text=True))
    client.post("/emulator/tap", data={})  # a new card, unknown to the school
    wait_for(lambda: len(presented) == 2)
    assert presented[1].startswith("04") and len(presented[1]) == 14
    assert client.post("/emulator/tap", data={"pupil_id": ids["isla"]}).status_code == 400


def test_emulator_is_not_there_on_real_hardware(make_app, config, db):
    from dataclasses import replace

    from kiosk.config import GpioConfig
    from web import create_app

    real = replace(config, gpio=GpioConfig(pin_factory="lgpio"))
    client = create_app(real, db, test_config={"TESTING": True, "WTF_CSRF_ENABLED": False,
                                               "SECRET_KEY": "x"}).test_client()
    login(client, "office")
    assert client.get("/emulator").status_code == 404
    assert client.post("/emulator/tap", data={}).status_code == 404
    assert "Emulator" not in client.get("/").get_data(as_text=True)
