"""The dashboard at the size of a school: polls that cost what changed, paging, filters,
a streamed export. The seeded school (classes 6K and 5R) in a real SQLite file."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from kiosk.school.pupils import update_pupil
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Event, KioskStatus, Pupil
from web import history, pupils, today

from .conftest import AMARA_CARD, LOCKER, deposit, local_clock, login


@pytest.fixture
def office(make_app):
    """The office's client, the app's clock at 10:00 on the seeded day."""
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, "office")
    return client


def _version(client, path="/api/today") -> str:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["ETag"].strip('"') == response.get_json()["version"]
    return response.headers["ETag"]


# --- live updates ------------------------------------------------------------------------


def test_unchanged_poll_is_not_modified(office):
    etag = _version(office)
    response = office.get("/api/today", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_a_fresh_heartbeat_changes_nothing_the_page_shows(make_app, heartbeat, db):
    client = make_app().test_client()  # the real clock: the heartbeat is fresh
    login(client, "office")
    heartbeat()
    etag = _version(client)
    with db.session() as session:  # the kiosk beats again a second later: same state
        session.get(KioskStatus, LOCKER).updated_at += timedelta(seconds=1)
        session.commit()
    assert client.get("/api/today", headers={"If-None-Match": etag}).status_code == 304
    heartbeat(locked=False)  # a bay unlocked: the lockers panel travels, nothing else
    data = client.get("/api/today", headers={"If-None-Match": etag}).get_json()
    assert data["partial"] is True and set(data["html"]) == {"lockers"}
    assert "unlocked" in data["html"]["lockers"]


def test_a_tap_resends_only_its_class_and_the_summary(office, db, ids):
    etag = _version(office)
    deposit(db, ids["amara"], AMARA_CARD)

    response = office.get("/api/today", headers={"If-None-Match": etag})

    assert response.status_code == 200
    data = response.get_json()
    assert data["partial"] is True
    assert set(data["html"]) == {"summary", "class:6K"}
    assert data["changed_classes"] == ["6K"]
    row = re.search(rf'<tr data-pupil="{ids["amara"]}".*?</tr>', data["html"]["class:6K"],
                    re.S).group(0)
    assert "in locker" in row
    assert data["counts"]["in_locker"] == 2
    assert "pupils" not in data  # a partial answer carries no pupil list
    # ... and once that is seen, the next poll is not modified again.
    assert office.get("/api/today", headers={"If-None-Match": response.headers["ETag"]}
                      ).status_code == 304


def test_a_teacher_gets_no_section_of_a_class_they_cannot_see(make_app, db, ids):
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, "teacher6k")
    etag = _version(client)
    deposit(db, ids["grace"])  # 5R
    data = client.get("/api/today", headers={"If-None-Match": etag}).get_json()
    assert data["partial"] is True and "class:5R" not in data["html"]
    assert "Grace" not in str(data)


def test_an_event_about_no_pupil_sends_no_pupil_section(office, db):
    etag = _version(office)
    with db.session() as session:
        record_event(session, Kind.LOGIN, actor="admin", reason="from 127.0.0.1")
        session.commit()
    data = office.get("/api/today", headers={"If-None-Match": etag}).get_json()
    assert data["partial"] is True and data["html"] == {}


def test_a_pupil_moved_to_another_class_redraws_every_section(office, db, ids):
    etag = _version(office)
    with db.session() as session:
        update_pupil(session, session.get(Pupil, ids["amara"]), actor="office", class_name="5R")
        session.commit()
    data = office.get("/api/today", headers={"If-None-Match": etag}).get_json()
    assert data["partial"] is False
    assert set(data["html"]) == set(today.SECTIONS) and data["pupils"]


def test_an_unknown_or_foreign_version_gets_the_whole_document(office):
    for tag in ('"nonsense"', '"99999999.aaaa.bbbb"', '"1.x.y"'):
        data = office.get("/api/today", headers={"If-None-Match": tag}).get_json()
        assert data["partial"] is False and data["pupils"], tag


def test_the_page_carries_its_version_for_the_first_poll(office):
    page = office.get("/").get_data(as_text=True)
    version = re.search(r'data-version="([^"]+)"', page).group(1)
    response = office.get("/api/today", headers={"If-None-Match": f'"{version}"'})
    assert response.status_code == 304


# --- a big school's Today: classes collapsed, filters ---------------------------------------


def _rows(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'<tr data-pupil="(\d+)"', page)}


def test_big_school_shows_classes_collapsed_and_filters_open_them(office, ids, monkeypatch):
    monkeypatch.setattr(today, "EXPAND_PUPILS", 2)  # the seeded five count as a big school
    page = office.get("/").get_data(as_text=True)
    assert _rows(page) == set()
    assert 'href="/?class=6K"' in page and 'href="/?class=5R"' in page
    assert page.index("Not handed in") < page.index("Class 6K")  # action lists first

    assert _rows(office.get("/?class=5R").get_data(as_text=True)) == {
        ids["grace"], ids["harry"], ids["isla"]}
    assert _rows(office.get("/?q=MURPHY").get_data(as_text=True)) == {ids["isla"]}
    assert "No pupil matches" in office.get("/?q=nobody").get_data(as_text=True)


def test_filtered_poll_sends_only_matching_classes(office, db, ids):
    etag = _version(office, "/api/today?class=5R")
    deposit(db, ids["amara"], AMARA_CARD)  # 6K: not on this filtered page
    data = office.get("/api/today?class=5R", headers={"If-None-Match": etag}).get_json()
    assert data["partial"] is True and set(data["html"]) == {"summary"}


# --- pupils list and History, paged ---------------------------------------------------------


def _pupil_links(page: str) -> list[int]:
    table = page[page.index("<table"):page.index("</table>")]
    return [int(n) for n in re.findall(r'href="/pupils/(\d+)"', table)]


def test_pupils_list_is_paged_and_sorted_by_surname(office, ids, monkeypatch):
    monkeypatch.setattr(pupils, "PAGE_PUPILS", 2)
    # Surnames: (the XSS pupil has one word), Lee, Mensah, Murphy, Okafor.
    pages = [_pupil_links(office.get(f"/pupils?page={n}").get_data(as_text=True))
             for n in (1, 2, 3)]
    assert pages == [[ids["xss"], ids["harry"]], [ids["grace"], ids["isla"]], [ids["amara"]]]
    first = office.get("/pupils").get_data(as_text=True)
    assert "Page 1 of 3 (5 pupils)" in first and 'rel="next"' in first
    # Past the end shows the last page; the name and class filters page too.
    assert _pupil_links(office.get("/pupils?page=9").get_data(as_text=True)) == [ids["amara"]]
    assert _pupil_links(office.get("/pupils?q=mensah").get_data(as_text=True)) == [ids["grace"]]
    assert _pupil_links(office.get("/pupils?class=6K").get_data(as_text=True)) == [
        ids["xss"], ids["amara"]]
    assert office.get("/pupils?page=x").status_code == 400


def test_history_is_paged_newest_first(office, db, monkeypatch):
    monkeypatch.setattr(history, "PAGE_ROWS", 3)
    with db.session() as session:
        expected = list(session.scalars(
            select(Event.id).order_by(Event.at.desc(), Event.id.desc())))
    shown = []
    for page in range(1, len(expected) // 3 + 2):
        text = office.get(f"/history?page={page}").get_data(as_text=True)
        shown += [int(n) for n in re.findall(r'data-event="(\d+)"', text)]
    assert shown == expected and len(expected) > 6
    assert office.get("/history?page=0").status_code == 400


def test_history_csv_streams_in_chunks(office, db, monkeypatch):
    monkeypatch.setattr(history, "CSV_CHUNK", 3)
    with db.session() as session:
        expected = list(session.scalars(
            select(Event.id).order_by(Event.at.desc(), Event.id.desc())))
    queries: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        if "FROM events" in statement:
            queries.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = office.get("/history.csv", buffered=False)
        chunks = iter(response.response)
        first = next(chunks)
        assert first.decode().lstrip("\ufeff").startswith("time,kind,pupil_id")
        assert queries == []  # the first bytes left before the events were read
        second = next(chunks)
        assert len(queries) == 1  # one chunk read, the rest not yet
        body = first + second + b"".join(chunks)
    finally:
        response.close()
        sa_event.remove(db.engine, "before_cursor_execute", note)
    assert len(queries) == len(expected) // 3 + 1
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
    # Seeded events share one timestamp: the keyset on (at, id) loses and repeats none.
    assert len(rows) == len(expected)
    with db.session() as session:
        kinds = [session.get(Event, n).kind for n in expected]
    assert [row[1] for row in rows] == kinds


# --- what a view reads follows what it shows ------------------------------------------------


class _Statements:
    """The statements (and their parameters) run on ``table`` while in the ``with``."""

    def __init__(self, db, table: str) -> None:
        self.db, self.needle, self.seen = db, f"FROM {table}", []

    def _note(self, _conn, _cursor, statement, parameters, *_args) -> None:
        if self.needle in statement:
            self.seen.append((statement, tuple(parameters)))

    def __enter__(self):
        sa_event.listen(self.db.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *_exc) -> None:
        sa_event.remove(self.db.engine, "before_cursor_execute", self._note)


def _class_line(page: str, name: str) -> list[int]:
    """The numbers of a collapsed class's line: pupils, in, collected, not handed in."""
    line = re.search(rf'>Class {name}</a>(.*?)</p>', page, re.S).group(1)
    return [int(n) for n in re.findall(r"\d+", line)]


def test_collapsed_classes_count_their_pupils_and_open_in_place(office, ids, monkeypatch):
    monkeypatch.setattr(today, "EXPAND_PUPILS", 2)
    page = office.get("/").get_data(as_text=True)
    # 6K: the XSS pupil's phone is in, Amara's not; 5R: three not handed in (Harry refused)
    assert _class_line(page, "6K") == [2, 1, 0, 1]
    assert _class_line(page, "5R") == [3, 0, 0, 3]
    # The link opens the class's own Today; app.js fetches the fragment instead.
    assert re.search(r'<a href="/\?class=5R" data-class-fragment="/today/class/5R"', page)


def test_a_class_fragment_draws_that_class_open_reading_only_it(office, db, ids):
    with _Statements(db, "events") as events:
        response = office.get("/today/class/5R")
    assert response.status_code == 200 and response.mimetype == "text/html"
    fragment = response.get_data(as_text=True)
    assert _rows(fragment) == {ids["grace"], ids["harry"], ids["isla"]}
    assert "<html" not in fragment and 'aria-label="Class 5R"' in fragment
    assert events.seen and all("5R" in params for _sql, params in events.seen)


def test_a_class_fragment_is_only_for_a_class_the_user_sees(make_app, office):
    teacher = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(teacher, "teacher6k")
    assert teacher.get("/today/class/5R").status_code == 404
    assert teacher.get("/today/class/6K").status_code == 200
    assert office.get("/today/class/9Z").status_code == 404  # no such class
    assert office.get("/today/class/" + "6" * 65).status_code == 404


def test_pupils_list_reads_todays_states_for_its_page_only(office, db, ids, monkeypatch):
    monkeypatch.setattr(pupils, "PAGE_PUPILS", 2)
    with _Statements(db, "events") as events:
        page = office.get("/pupils").get_data(as_text=True)
    assert _pupil_links(page) == [ids["xss"], ids["harry"]]
    asked = {value for _sql, params in events.seen for value in params
             if type(value) is int and value}
    assert events.seen and asked == {ids["xss"], ids["harry"]}
    assert "in locker" in page and "refused" not in page.split("<table")[0]
