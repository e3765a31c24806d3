"""The admin page's email field: set, checked, changed and removed on an account."""

from __future__ import annotations

from sqlalchemy import select

from kiosk.store.models import StaffUser

from .conftest import PASSWORD


def _user(db, username):
    with db.session() as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def test_admin_creates_an_account_with_an_email_address(as_user, db):
    client = as_user("admin")
    form = client.get("/admin/users/new").get_data(as_text=True)
    assert 'name="email"' in form
    bad = client.post("/admin/users/new", data={
        "username": "mrs.k", "role": "teacher", "classes": "6K", "password": PASSWORD,
        "again": PASSWORD, "email": "mrs k at school"}, follow_redirects=True)
    assert "is not an email address" in bad.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(StaffUser).where(StaffUser.username == "mrs.k")).all() == []
    client.post("/admin/users/new", data={
        "username": "mrs.k", "role": "teacher", "classes": "6K", "password": PASSWORD,
        "again": PASSWORD, "email": " k@school.example "})
    assert _user(db, "mrs.k").email == "k@school.example"
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "k@school.example" in listing


def test_admin_changes_and_removes_an_address(as_user, ids, db):
    client = as_user("admin")
    url = f"/admin/users/{ids['teacher6k']}"
    client.post(url, data={"role": "teacher", "classes": "6K", "active": "1",
                           "email": "six.k@school.example"})
    assert _user(db, "teacher6k").email == "six.k@school.example"
    assert 'value="six.k@school.example"' in client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"role": "teacher", "classes": "6K", "active": "1",
                                     "email": "six.k@"}, follow_redirects=True)
    assert "Not saved" in refused.get_data(as_text=True)
    assert _user(db, "teacher6k").email == "six.k@school.example"
    client.post(url, data={"role": "teacher", "classes": "6K", "active": "1", "email": ""})
    assert _user(db, "teacher6k").email is None
