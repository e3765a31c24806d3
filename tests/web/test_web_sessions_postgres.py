"""Dashboard sessions and account checks on PostgreSQL (``PHONELOCKER_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from kiosk.config import parse_config
from kiosk.errors import ActionError
from kiosk.school import staff
from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database
from kiosk.store.models import WebSession
from web import create_app
from web.sessions import DatabaseSessionInterface, purge_expired

from .conftest import PASSWORD, login

URL = os.environ.get("PHONELOCKER_TEST_POSTGRES_URL")


@pytest.fixture
def pg_db(tmp_path):
    if not URL:
        if os.environ.get("CI"):
            pytest.fail("PHONELOCKER_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL: set PHONELOCKER_TEST_POSTGRES_URL to run these tests")
    name = f"pl_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_sessions_and_classes_on_postgresql(pg_db, tmp_path):
    with pg_db.session() as session:
        add_pupil(session, name="Amara", year=6, class_name="6K", actor="test")
        staff.create_user(session, "mrs.k", PASSWORD, role="teacher", classes=["6k"],
                          actor="test")
        with pytest.raises(ActionError, match="the classes are: 6K"):
            staff.create_user(session, "mr.x", PASSWORD, role="teacher", classes=["6X"],
                              actor="test")
        session.commit()
    config = parse_config({"database": {"url": pg_db.url},
                           "web": {"secret_key_file": str(tmp_path / "key")}})

    def app():
        made = create_app(config, pg_db, test_config={"TESTING": True,
                                                      "WTF_CSRF_ENABLED": False})
        made.session_interface = DatabaseSessionInterface(max_anonymous=1)
        return made

    client = app().test_client()
    assert login(client, "mrs.k").status_code == 302
    for _ in range(3):  # anonymous visitors beyond the cap: the oldest go
        with app().test_client().session_transaction() as anonymous:
            anonymous["note"] = "x"
    restarted = app().test_client()
    restarted.set_cookie("phonelocker_session", client.get_cookie("phonelocker_session").value)
    assert restarted.get("/").status_code == 200
    with pg_db.session() as session:
        rows = session.scalars(select(WebSession)).all()
        assert sorted(row.user_id is None for row in rows) == [False, True]
        assert purge_expired(session) == 0
        staff.set_password(session, staff.get_user(session, "mrs.k"), "another passphrase",
                           actor="test")
        session.commit()
    assert restarted.get("/").status_code == 302
