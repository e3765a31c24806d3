"""Sessions in the database: they survive a restart, and account changes end them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from kiosk.school import staff
from kiosk.store.models import StaffUser, WebSession
from kiosk.timeutil import utcnow
from web.sessions import (
    IDLE_SECONDS,
    MAX_AGE_SECONDS,
    TOUCH_SECONDS,
    DatabaseSessionInterface,
    purge_expired,
)

from .conftest import PASSWORD, login

COOKIE = "phonelocker_session"
NEW_PASSWORD = "a brand new passphrase"


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def sessions_of(db, user_id: int) -> list[WebSession]:
    with db.session() as session:
        return list(session.scalars(select(WebSession).where(WebSession.user_id == user_id)))


def test_login_survives_a_restart_with_its_form_token(make_app, db, ids):
    # A real secret key file and CSRF on, as `phonelocker web` runs.
    first = make_app(SECRET_KEY=None, WTF_CSRF_ENABLED=True).test_client()
    page = first.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert login(first, "office", csrf_token=token).status_code == 302
    cookie = first.get_cookie(COOKIE).value
    form = first.get("/account/password").get_data(as_text=True)
    form_token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    restarted = make_app(SECRET_KEY=None, WTF_CSRF_ENABLED=True).test_client()
    restarted.set_cookie(COOKIE, cookie)
    assert signed_in(restarted)
    # A form rendered before the restart still posts (its CSRF token is in the stored session).
    answer = restarted.post("/account/password", data={
        "csrf_token": form_token, "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert answer.status_code == 302


def test_the_cookie_is_a_token_whose_hash_is_stored(client, db, ids):
    login(client, "office")
    token = client.get_cookie(COOKIE).value
    (row,) = sessions_of(db, ids["office"])
    assert row.id == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.data and token != row.id
    assert row.expires_at - row.created_at == timedelta(seconds=MAX_AGE_SECONDS)


def test_own_password_change_ends_other_sessions_only(make_app, db, ids):
    here, elsewhere = make_app().test_client(), make_app().test_client()
    login(here, "teacher6k")
    login(elsewhere, "teacher6k")
    login(make_app().test_client(), "office")
    before = here.get_cookie(COOKIE).value
    answer = here.post("/account/password", data={
        "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert answer.status_code == 302
    assert signed_in(here)  # under a new token...
    assert not signed_in(elsewhere)
    stale = make_app().test_client()
    stale.set_cookie(COOKIE, before)  # ...and the one it had before is worthless
    assert not signed_in(stale)
    assert len(sessions_of(db, ids["teacher6k"])) == 1
    assert len(sessions_of(db, ids["office"])) == 1  # nobody else was touched


def test_admin_reset_ends_every_session_of_that_account(make_app, ids):
    teacher, admin = make_app().test_client(), make_app().test_client()
    login(teacher, "teacher6k")
    login(admin, "admin")
    admin.post(f"/admin/users/{ids['teacher6k']}/password",
               data={"password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert not signed_in(teacher)
    assert signed_in(admin)


def test_disabling_ends_sessions_for_good(make_app, ids):
    teacher, admin = make_app().test_client(), make_app().test_client()
    login(teacher, "teacher6k")
    form = {"role": "teacher", "classes": "6K"}
    admin_page = f"/admin/users/{ids['teacher6k']}"
    login(admin, "admin")
    admin.post(admin_page, data=form)  # active unticked: disabled
    admin.post(admin_page, data={**form, "active": "1"})  # and enabled again
    assert not signed_in(teacher)  # the old session does not come back


def test_role_change_ends_sessions(make_app, ids):
    office, admin = make_app().test_client(), make_app().test_client()
    login(office, "office")
    login(admin, "admin")
    admin.post(f"/admin/users/{ids['office']}",
               data={"role": "teacher", "classes": "6K", "active": "1"})
    assert not signed_in(office)
    assert login(office, "office").status_code == 302  # signs in again, as a teacher now
    assert office.get("/office").status_code == 403


def test_class_change_keeps_the_session(make_app, ids):
    teacher, admin = make_app().test_client(), make_app().test_client()
    login(teacher, "teacher6k")
    login(admin, "admin")
    admin.post(f"/admin/users/{ids['teacher6k']}",
               data={"role": "teacher", "classes": "6K, 5R", "active": "1"})
    assert signed_in(teacher)


def test_cli_password_change_ends_sessions(client, db, ids):
    # `phonelocker users set-password` runs kiosk.school.staff.set_password in another process.
    login(client, "office")
    with db.session() as session:
        user = session.get(StaffUser, ids["office"])
        staff.set_password(session, user, NEW_PASSWORD, actor="root")
        session.commit()
    assert not signed_in(client)


def test_polling_reads_without_writing_then_idles_out(make_app, db, ids):
    now = [utcnow()]
    app = make_app()
    app.session_interface = DatabaseSessionInterface(clock=lambda: now[0])
    client = app.test_client()
    login(client, "office")
    (row,) = sessions_of(db, ids["office"])
    started = row.last_seen_at
    now[0] += timedelta(seconds=TOUCH_SECONDS - 5)
    assert client.get("/api/today").status_code == 200
    assert sessions_of(db, ids["office"])[0].last_seen_at == started
    now[0] += timedelta(seconds=10)
    assert client.get("/api/today").status_code == 200
    assert sessions_of(db, ids["office"])[0].last_seen_at == now[0]
    now[0] += timedelta(seconds=IDLE_SECONDS + 1)
    assert not signed_in(client)
    assert sessions_of(db, ids["office"]) == []


def test_sessions_end_at_their_maximum_age_and_expired_rows_are_purged(make_app, db, ids):
    now = [utcnow()]
    app = make_app()
    app.session_interface = DatabaseSessionInterface(clock=lambda: now[0])
    client, other = app.test_client(), app.test_client()
    login(client, "office")
    login(other, "admin")
    for _ in range(MAX_AGE_SECONDS // IDLE_SECONDS + 1):  # busy all day, never idle
        now[0] += timedelta(seconds=IDLE_SECONDS - 60)
        if not signed_in(client):
            break
    assert not signed_in(client)
    with db.session() as session:
        assert purge_expired(session, now[0]) == 1  # the admin's, idle all that time
        session.commit()
        assert session.scalars(select(WebSession)).all() == []


def test_anonymous_sessions_are_capped_oldest_first(make_app, db):
    app = make_app()
    app.session_interface = DatabaseSessionInterface(max_anonymous=3)
    clients = [app.test_client() for _ in range(5)]
    for client in clients:
        client.get("/login")
        with client.session_transaction() as session:
            session["note"] = "an anonymous visitor"
    with db.session() as session:
        assert len(session.scalars(select(WebSession)).all()) == 3
    with clients[-1].session_transaction() as session:
        assert session["note"] == "an anonymous visitor"
    with clients[0].session_transaction() as session:
        assert "note" not in session


def test_a_session_ended_meanwhile_is_not_written_back(make_app, db, ids):
    client = make_app().test_client()
    login(client, "office")
    with client.session_transaction() as session:
        # Ended by an admin while this request was being served...
        with db.session() as other:
            staff.end_sessions(other, other.get(StaffUser, ids["office"]))
            other.commit()
        session["changed"] = True  # ...which then saves the session it had opened.
    assert sessions_of(db, ids["office"]) == []
    assert not signed_in(client)


def test_the_migration_matches_the_model(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kiosk.store.db import SCHEMA_REVISION, Database, current_revision
    from kiosk.store.models import Base

    database = Database(f"sqlite:///{tmp_path}/fresh.db")
    database.upgrade()
    assert current_revision(database.engine) == SCHEMA_REVISION
    with database.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    database.dispose()
    assert [d for d in diffs if "web_sessions" in repr(d)] == []


def test_the_migration_fixes_the_case_of_teachers_classes(tmp_path):
    from sqlalchemy import text

    from kiosk.store.db import Database, upgrade

    database = Database(f"sqlite:///{tmp_path}/old.db")
    upgrade(database.engine, "0001")
    with database.engine.begin() as connection:
        run = connection.exec_driver_sql
        run("INSERT INTO pupils (id, name, year, class_name, active, created_at)"
            " VALUES (1, 'Amara', 6, '6K', 1, '2026-01-05 08:00:00')")
        for user_id in (1, 2):
            run("INSERT INTO staff_users (id, username, password_hash, role, active, created_at)"
                f" VALUES ({user_id}, 'teacher{user_id}', 'x', 'teacher', 1,"
                " '2026-01-05 08:00:00')")
        run("INSERT INTO staff_classes (user_id, class_name) VALUES"
            " (1, '6k'), (1, '9Z'), (2, '6k'), (2, '6K')")
    database.upgrade()
    with database.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT user_id, class_name FROM staff_classes ORDER BY user_id, class_name")).all()
    database.dispose()
    assert [tuple(row) for row in rows] == [(1, "6K"), (1, "9Z"), (2, "6K")]
