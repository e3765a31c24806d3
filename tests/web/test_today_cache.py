"""The Today view is kept between requests (web/today_cache.py): a request at the same
event id reads no pupil again, a tap re-reads its class only, anything else (a pupil
moved, a new day, another viewer) is read afresh, and what is drawn from a kept view is
what a fresh read draws."""

from __future__ import annotations

import pytest

from kiosk.school.pupils import update_pupil
from kiosk.store.models import Pupil
from web import today
from web.today_cache import TodayCache, TodayEntry

from .conftest import AMARA_CARD, deposit, local_clock, login


@pytest.fixture
def reads(monkeypatch) -> list:
    """The ``classes`` argument of every pupil_states call the Today page makes."""
    calls: list = []
    real = today.pupil_states

    def spy(*args, **kwargs):
        calls.append(kwargs.get("classes"))
        return real(*args, **kwargs)

    monkeypatch.setattr(today, "pupil_states", spy)
    return calls


@pytest.fixture
def office(make_app):
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, "office")
    return client


def _fresh_document(make_app, username: str = "office") -> dict:
    """The whole /api/today document from a new app (nothing kept), at the same clock."""
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, username)
    return client.get("/api/today").get_json()


def _without_version(document: dict) -> dict:
    # a login is an event: the fresh app's sign-in moved the version on
    return {k: v for k, v in document.items() if k != "version"}


def test_an_unchanged_school_is_read_once(office, reads):
    first = office.get("/").get_data(as_text=True)
    document = office.get("/api/today").get_json()
    again = office.get("/").get_data(as_text=True)

    assert reads == [None]  # the office's whole school, once
    assert again == first
    assert "Amara Okafor" in document["html"]["summary"]
    assert [p["name"] for p in document["pupils"]].count("Amara Okafor") == 1


def test_a_tap_reads_its_class_again_and_draws_what_a_fresh_read_draws(
        office, reads, db, ids, make_app):
    office.get("/api/today")
    deposit(db, ids["amara"], AMARA_CARD)

    document = office.get("/api/today").get_json()

    assert reads == [None, ["6K"]]
    amara = next(p for p in document["pupils"] if p["id"] == ids["amara"])
    assert amara["state"] == "in_locker"
    assert document["counts"]["in_locker"] == 2
    fresh = _fresh_document(make_app)
    assert _without_version(document) == _without_version(fresh)


def test_a_tap_in_a_class_out_of_view_reads_no_pupil(make_app, reads, db, ids):
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, "teacher6k")
    client.get("/")
    deposit(db, ids["grace"])  # 5R: not the teacher's

    page = client.get("/").get_data(as_text=True)

    assert reads == [["6K"]]
    assert "Grace" not in page


def test_a_pupil_moved_reads_the_whole_school_again(office, reads, db, ids):
    office.get("/")
    with db.session() as session:
        update_pupil(session, session.get(Pupil, ids["amara"]), actor="office", class_name="5R")
        session.commit()

    document = office.get("/api/today").get_json()

    assert reads == [None, None]
    assert next(p for p in document["pupils"] if p["id"] == ids["amara"])["class"] == "5R"


def test_the_office_and_a_teacher_are_kept_apart(make_app, reads):
    app = make_app(CLOCK=local_clock(10, 0))
    office, teacher = app.test_client(), app.test_client()
    login(office, "office")
    login(teacher, "teacher6k")

    seen_by_office = office.get("/").get_data(as_text=True)
    seen_by_teacher = teacher.get("/").get_data(as_text=True)

    assert "Grace Mensah" in seen_by_office and "Grace Mensah" not in seen_by_teacher
    assert reads == [None, ["6K"]]


def test_a_new_day_is_read_afresh(make_app, reads):
    clocks = [local_clock(10, 0)]

    def clock():
        return clocks[-1]()

    client = make_app(CLOCK=clock).test_client()
    login(client, "office")
    client.get("/")
    clocks.append(local_clock(10, 0, days=1))

    document = client.get("/api/today").get_json()

    assert reads == [None, None]
    assert document["date"] == local_clock(10, 0, days=1)().date().isoformat()


def test_a_filtered_view_is_drawn_from_the_whole_views_pupils(office, reads, make_app):
    office.get("/")
    document = office.get("/api/today?class=5R").get_json()

    assert reads == [None]  # the whole school once; the filter reads nothing more
    assert "Grace Mensah" in document["html"]["classes"]
    assert "Amara Okafor" not in document["html"]["classes"]
    client = make_app(CLOCK=local_clock(10, 0)).test_client()
    login(client, "office")
    fresh = client.get("/api/today?class=5R").get_json()
    assert _without_version(document) == _without_version(fresh)


def test_the_cache_keeps_the_newest_entry_of_each_frame_and_drops_the_oldest_frame():
    cache = TodayCache(size=2)
    cache.put("a", TodayEntry(1, {}))
    cache.put("b", TodayEntry(1, {}))
    cache.put("a", TodayEntry(2, {}))  # a's newer view replaces its older one
    cache.put("c", TodayEntry(1, {}))  # b was used least recently

    assert cache.get("a").event_id == 2
    assert cache.get("b") is None and cache.get("c") is not None
    assert len(cache) == 2


def test_an_entry_draws_each_section_once():
    entry = TodayEntry(1, {"counts": {"in": 1}})
    drawn: list[str] = []

    def draw() -> str:
        drawn.append("summary")
        return "<p>1</p>"

    assert entry.section("summary", draw) == entry.section("summary", draw) == "<p>1</p>"
    assert drawn == ["summary"]
    assert entry.json("counts", str) == "{'in': 1}"


def test_after_a_tap_only_its_class_is_drawn_again(office, db, ids, app_templates):
    office.get("/")  # draws every class
    app_templates.clear()
    deposit(db, ids["amara"], AMARA_CARD)  # 6K

    page = office.get("/").get_data(as_text=True)

    drawn = [context["class"]["name"] for name, context in app_templates
             if name == "partials/today_class.html"]
    assert drawn == ["6K"]
    assert "Grace Mensah" in page  # 5R's section, kept from before, is still on the page


@pytest.fixture
def app_templates() -> list:
    """(template name, context) of every template Flask renders during the test."""
    from flask import template_rendered

    rendered: list = []

    def record(sender, template, context, **extra):
        rendered.append((template.name, context))

    template_rendered.connect(record)
    yield rendered
    template_rendered.disconnect(record)
