"""Bad input to the dashboard is refused with a 400/404 and a message, and nothing is stored."""

from __future__ import annotations

from sqlalchemy import func, select

from kiosk.store.models import Command, Pupil

from .conftest import LOCKER

HUGE = str(2**63)


def test_ids_outside_the_database_range_are_404(as_user):
    client = as_user("admin")
    for url in (f"/pupils/{HUGE}", f"/pupils/{2**64}/edit", f"/api/commands/{HUGE}",
                f"/admin/users/{HUGE}", "/pupils/0", "/pupils/" + "9" * 5000):
        assert client.get(url).status_code == 404, url


def test_largest_id_is_an_ordinary_not_found(as_user):
    assert as_user("office").get(f"/pupils/{2**63 - 1}").status_code == 404


def test_form_and_query_ids_out_of_range_are_400_with_a_message(as_user):
    client = as_user("office")
    response = client.post("/office/release", data={"pupil_id": HUGE, "reason": "x"})
    assert response.status_code == 400 and "pupil_id must be between 1 and" in response.text
    response = client.get(f"/history?pupil={HUGE}")
    assert response.status_code == 400 and "pupil must be between 1 and" in response.text
    response = client.post("/office/handback", data={"kind": "office_return"})
    assert response.status_code == 400 and "choose a pupil" in response.text


def test_csv_export_refuses_bad_filters_before_it_starts(as_user):
    client = as_user("office")
    for query in (f"pupil={HUGE}", "from=9999-12-31", "to=0000-00-00"):
        response = client.get(f"/history.csv?{query}")
        assert response.status_code == 400, query
        assert response.mimetype == "text/html"


def test_dates_out_of_range_are_refused(as_user):
    client = as_user("office")
    response = client.get("/history?from=9999-12-31")
    assert response.status_code == 400
    assert "out of range (2000-01-01 to 2100-12-31)" in response.text


def test_unlock_of_a_bay_the_locker_does_not_have_is_refused(as_user, heartbeat, db):
    heartbeat()
    client = as_user("office")
    response = client.post("/office/unlock", data={"target": f"bay:{LOCKER}:999",
                                                   "seconds": "10", "reason": "fire drill"})
    assert response.status_code == 400 and "bay 999 does not exist" in response.text
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Command)) == 0
    response = client.post("/office/unlock", data={"target": f"bay:{LOCKER}:2",
                                                   "seconds": "10", "reason": "fire drill"})
    assert response.status_code == 302


def test_a_pupil_bay_must_exist(as_user, db):
    client = as_user("office")
    page = client.post("/pupils/new", data={"name": "Nia Brown", "year": "6",
                                            "class_name": "6K", "bay": "99"}).text
    assert "bay 99 does not exist on the locker (bays: 1, 2)" in page
    with db.session() as session:
        assert session.scalar(select(Pupil).where(Pupil.name == "Nia Brown")) is None


def test_names_with_control_characters_are_refused(as_user, db, ids):
    client = as_user("office")
    response = client.post("/pupils/new", data={"name": "Nia\x1b[2J", "year": "6",
                                                "class_name": "6K"})
    assert response.status_code == 400 and "control characters (U+001B)" in response.text
    response = client.post(f"/pupils/{ids['amara']}/edit", data={"name": "A\x00B", "year": "6",
                                                                   "class_name": "6K"})
    assert response.status_code == 400
    with db.session() as session:
        assert session.get(Pupil, ids["amara"]).name == "Amara Okafor"


def test_a_second_pupil_with_the_same_upn_is_refused_not_a_500(as_user, db):
    client = as_user("office")
    fields = {"year": "6", "class_name": "6K", "external_id": "A123"}
    assert client.post("/pupils/new", data={"name": "One", **fields}).status_code == 302
    page = client.post("/pupils/new", data={"name": "Two", **fields}).text
    assert "another pupil already has the UPN A123" in page
