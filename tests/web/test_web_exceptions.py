"""The exceptions register and staff arrangements on the dashboard (Flask test client).

The app's CLOCK is fixed at 10:00 today (London), so the tests pass at any
time of day: every exception here is added and read at that instant.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from kiosk.registers.exceptions import add_exception
from kiosk.reports.words import school_date
from kiosk.store.models import Event, Pupil, PupilException, StaffArrangement

from .conftest import local_clock, login
from .test_web_security import csrf_token

CLOCK = local_clock(10, 0)


def client_as(make_app, username: str, **settings):
    client = make_app(CLOCK=CLOCK, **settings).test_client()
    assert login(client, username).status_code == 302
    return client


def add_for(db, pupil_id: int, **fields) -> int:
    """An exception added the way the CLI does, at the app's clock."""
    with db.session() as session:
        values = {"kind": "medical", "reason": "glucose monitor", "agreed_by": "Mrs Patel",
                  "now": CLOCK(), "zone": CLOCK().tzinfo, **fields}
        row = add_exception(session, session.get(Pupil, pupil_id), **values)
        session.commit()
        return row.id


def events(db, kind: str) -> list[Event]:
    with db.session() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def today_row(data: dict, pupil_id: int) -> dict:
    return next(p for p in data["pupils"] if p["id"] == pupil_id)


def test_office_adds_one_and_today_shows_keeps_phone(make_app, db, ids):
    client = client_as(make_app, "office")
    before = client.get("/api/today").get_json()
    assert "Amara Okafor" in [p["name"] for p in before["not_handed_in"]]
    response = client.post("/exceptions", data={
        "pupil_id": str(ids["amara"]), "kind": "medical", "reason": "glucose monitor",
        "agreed_by": "Mrs Patel", "until": "", "review": ""})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "done: Amara Okafor keeps their phone (medical)." in page

    after = client.get("/api/today").get_json()
    assert "Amara Okafor" not in [p["name"] for p in after["not_handed_in"]]
    assert after["counts"]["not_handed_in"] == before["counts"]["not_handed_in"] - 1
    assert today_row(after, ids["amara"])["exception"] == {
        "kind": "medical", "until": None, "review": None}
    row_html = re.search(rf'<tr data-pupil="{ids["amara"]}".*?</tr>', after["html"]["classes"],
                         re.S).group(0)
    assert "keeps phone: medical" in row_html and "not handed in" not in row_html
    # Class 6K: Amara keeps hers, the other 6K pupil's phone is in the locker
    assert "0 not handed in" in after["html"]["classes"].split("<h2>Class 6K")[1].split("</h2>")[0]
    (added,) = events(db, "exception_added")
    assert (added.actor, added.pupil_id) == ("office", ids["amara"])
    assert "agreed by Mrs Patel" in added.reason


def test_staff_words_for_each_kind_on_today(make_app, db, ids):
    add_for(db, ids["amara"], kind="young_carer")
    add_for(db, ids["harry"], kind="send")
    page = client_as(make_app, "office").get("/").get_data(as_text=True)
    assert "keeps phone: young carer" in page and "keeps phone: SEND" in page
    assert "young_carer" not in page


def test_office_ends_one_and_the_pupil_is_expected_again(make_app, db, ids):
    exception_id = add_for(db, ids["amara"])
    client = client_as(make_app, "office")
    refused = client.post(f"/exceptions/{exception_id}/end", data={"reason": " "},
                          follow_redirects=True)
    assert "Not ended: a reason is needed" in refused.get_data(as_text=True)
    assert today_row(client.get("/api/today").get_json(), ids["amara"])["exception"]

    client.post(f"/exceptions/{exception_id}/end", data={"reason": "reviewed with parents"})
    data = client.get("/api/today").get_json()
    assert today_row(data, ids["amara"])["exception"] is None
    assert "Amara Okafor" in [p["name"] for p in data["not_handed_in"]]
    (ended,) = events(db, "exception_ended")
    assert (ended.actor, ended.pupil_id) == ("office", ids["amara"])
    page = client.get("/exceptions").get_data(as_text=True)
    ended_section = page.split('id="ended"')[1]
    assert "Amara Okafor" in ended_section and "reviewed with parents" in ended_section


def test_due_for_review_on_the_register_and_the_offices_today(make_app, db, ids):
    soon = school_date(CLOCK().date() + timedelta(days=7), CLOCK().date())
    later = school_date(CLOCK().date() + timedelta(days=60), CLOCK().date())
    add_for(db, ids["amara"], review_on=CLOCK().date() + timedelta(days=7))
    add_for(db, ids["harry"], review_on=CLOCK().date() + timedelta(days=60))
    office = client_as(make_app, "office")
    page = office.get("/exceptions").get_data(as_text=True)
    due = page.split('id="due"')[1].split("</section>")[0]
    assert "Amara Okafor" in due and f"review {soon}" in due and "Harry Lee" not in due
    assert f"review {later}" in page  # listed in force, not due
    today = office.get("/").get_data(as_text=True)
    assert "1 exception due for review" in today
    teacher = client_as(make_app, "teacher6k").get("/").get_data(as_text=True)
    assert "due for review" not in teacher


def test_teachers_see_their_pupils_exceptions_and_change_nothing(make_app, db, ids):
    amara = add_for(db, ids["amara"], reason="glucose monitor")
    add_for(db, ids["harry"], reason="cares for his dad", kind="young_carer")
    client = client_as(make_app, "teacher6k")
    page = client.get("/exceptions").get_data(as_text=True)
    assert "Amara Okafor" in page and "glucose monitor" in page
    assert "Harry Lee" not in page and "cares for his dad" not in page
    assert "Add an exception" not in page and "/end" not in page
    assert "Staff special arrangements" not in page
    assert client.post("/exceptions", data={"pupil_id": str(ids["amara"]), "kind": "other",
                                            "reason": "r", "agreed_by": "me"}).status_code == 403
    assert client.post(f"/exceptions/{amara}/end", data={"reason": "r"}).status_code == 403
    assert client.get("/arrangements").status_code == 403
    with db.session() as session:
        assert len(session.scalars(select(PupilException)).all()) == 2
        assert session.get(PupilException, amara).ended_at is None


def test_a_refused_form_is_shown_again_with_what_was_typed(make_app, db, ids):
    client = client_as(make_app, "office")
    form = {"pupil_id": str(ids["amara"]), "kind": "send", "reason": "screen reader app",
            "agreed_by": "SENCo Ms Rowe", "from": "2026-02-30"}
    response = client.post("/exceptions", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Not recorded: From &#39;2026-02-30&#39; is not a date YYYY-MM-DD" in page
    assert 'value="screen reader app"' in page and 'value="SENCo Ms Rowe"' in page
    assert re.search(r'<option value="send"\s+selected>', page)
    past = client.post("/exceptions", data={**form, "from": "", "until": "2001-01-01"})
    assert past.status_code == 400 and "before the start date" in past.get_data(as_text=True)
    nobody = client.post("/exceptions", data={**form, "pupil_id": ""})
    assert nobody.status_code == 400 and "choose a pupil" in nobody.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(PupilException)).all() == []
    assert events(db, "exception_added") == []


def test_the_add_form_preselects_no_pupil(make_app):
    page = client_as(make_app, "office").get("/exceptions").get_data(as_text=True)
    form = page.split('id="add"')[1]
    assert re.search(r'<input name="pupil" id="exception-pupil" required[^>]* value=""', form)
    assert '<input type="hidden" name="pupil_id" value=""' in form
    assert "Amara Okafor" not in form and "<select name=\"pupil_id\"" not in form


def test_an_exception_for_a_pupil_typed_by_name(make_app, db, ids):
    client = client_as(make_app, "office")
    form = {"pupil": "okafor", "kind": "medical", "reason": "glucose monitor",
            "agreed_by": "Mrs Head"}
    assert client.post("/exceptions", data=form).status_code == 302
    with db.session() as session:
        (row,) = session.scalars(select(PupilException)).all()
    assert row.pupil_id == ids["amara"]


def test_arrangements_for_admin_and_office(make_app, db):
    admin = client_as(make_app, "admin")
    response = admin.post("/arrangements", data={
        "staff": "Mr Ó Néill", "what": "MFA codes", "agreed_by": "Mrs Patel",
        "until": (CLOCK().date() + timedelta(days=90)).isoformat()})
    assert response.status_code == 302
    with db.session() as session:
        (row,) = session.scalars(select(StaffArrangement)).all()
    office = client_as(make_app, "office")
    page = office.get("/arrangements").get_data(as_text=True)
    assert "Mr Ó Néill" in page and "MFA codes" in page
    blank = office.post("/arrangements", data={"staff": "Ms Jones", "what": "",
                                               "agreed_by": "Mrs Patel"})
    assert blank.status_code == 400 and 'value="Ms Jones"' in blank.get_data(as_text=True)
    office.post(f"/arrangements/{row.id}/end", data={"reason": "school phone for MFA"})
    page = office.get("/arrangements").get_data(as_text=True)
    assert "school phone for MFA" in page.split('id="ended"')[1]
    assert [(e.kind, e.actor) for e in events(db, "arrangement_added")] == [
        ("arrangement_added", "admin")]
    assert [(e.kind, e.actor) for e in events(db, "arrangement_ended")] == [
        ("arrangement_ended", "office")]


def test_history_and_its_csv_show_the_register_changes(make_app, db, ids):
    add_for(db, ids["amara"])
    client = client_as(make_app, "office")
    day = CLOCK().date().isoformat()
    page = client.get(f"/history?kind=exception_added&from={day}&to={day}").get_data(
        as_text=True)
    assert "exception_added" in page and "Amara Okafor" in page
    csv_text = client.get(f"/history.csv?kind=exception_added&from={day}&to={day}").get_data(
        as_text=True)
    assert "exception_added" in csv_text and "agreed by Mrs Patel" in csv_text


def test_every_register_form_needs_the_csrf_token(make_app, db, ids):
    client = make_app(CLOCK=CLOCK, WTF_CSRF_ENABLED=True).test_client()
    login(client, "office", csrf_token=csrf_token(client))
    form = {"pupil_id": str(ids["amara"]), "kind": "medical", "reason": "r", "agreed_by": "A"}
    assert client.post("/exceptions", data=form).status_code == 400
    assert client.post("/arrangements", data={"staff": "A", "what": "B",
                                              "agreed_by": "C"}).status_code == 400
    token = csrf_token(client, "/exceptions")
    assert client.post("/exceptions", data={**form, "csrf_token": token}).status_code == 302
    with db.session() as session:
        assert len(session.scalars(select(PupilException)).all()) == 1
        assert session.scalars(select(StaffArrangement)).all() == []
