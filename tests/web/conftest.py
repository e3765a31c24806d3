"""Fixtures for the dashboard tests: a seeded school in a real SQLite file, app, client, login.

The school is migrated and seeded once per test session (per xdist worker)
and the file is copied for each test, so every test gets its own database
without paying for Alembic and scrypt each time.

Everything seeded is stamped at :data:`SEED_TIME`, one minute past midnight
(London) on the day the session started, and :func:`local_clock` gives
times on that same day; so a test whose app clock says 09:00 sees the
seeded deposit, refusal and Year 5 approval as earlier today, whatever the
wall clock (or ``PHONELOCKER_TEST_NOW``) says.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from kiosk.config import Config, DatabaseConfig, ReaderConfig, WebConfig
from kiosk.devtools.ports import free_port
from kiosk.school.pupils import add_pupil, approve_year5
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Bay, Holding, KioskStatus, Locker, Pupil, StaffClass, StaffUser
from kiosk.timeutil import naive_utc, utcnow
from web import create_app

PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
LOCKER = "locker-1"
AMARA_CARD = "04A1B2C3D4E5F6"
XSS_CARD = "04000000000001"
HARRY_CARD = "04F60718293A4B"

#: username -> (role, classes)
USERS = {
    "teacher6k": ("teacher", ("6K",)),
    "teacher5r": ("teacher", ("5R",)),
    "office": ("office", ()),
    "admin": ("admin", ()),
}


ZONE = ZoneInfo("Europe/London")
#: the local day the seeded school lives on: the session's first day
SEED_DAY = datetime.now(ZONE).date()
#: when everything seeded happened (aware)
SEED_TIME = datetime.combine(SEED_DAY, time(0, 1), tzinfo=ZONE)


def _seed(db: Database) -> dict[str, int]:
    ids: dict[str, int] = {}
    at = naive_utc(SEED_TIME)
    # Real scrypt with a small work factor, so the many logins in these tests stay fast;
    # accounts made through kiosk.school.staff get the full-strength default.
    password_hash = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")
    with db.session() as session:
        session.add(Locker(id=LOCKER, name="Test locker", bays=[Bay(number=1), Bay(number=2)]))
        for username, (role, classes) in USERS.items():
            user = StaffUser(username=username, password_hash=password_hash, role=role,
                             active=True, created_at=at)
            user.classes = [StaffClass(class_name=name) for name in classes]
            session.add(user)
            session.flush()
            ids[username] = user.id
        pupils = {
            "amara": ("Amara Okafor", 6, "6K", AMARA_CARD),
            "xss": (XSS, 6, "6K", XSS_CARD),
            "grace": ("Grace Mensah", 5, "5R", "04E5F60718293A"),
            "harry": ("Harry Lee", 5, "5R", HARRY_CARD),
            "isla": ("Isla Murphy", 5, "5R", None),
        }
        for key, (name, year, class_name, uid) in pupils.items():
            pupil = add_pupil(session, name=name, year=year, class_name=class_name,
                              card_uid=uid, actor="seed", now=at)
            ids[key] = pupil.id
        approve_year5(session, session.get(Pupil, ids["grace"]), by="Mrs Head", actor="seed",
                      now=at)
        # The XSS pupil's phone is in the locker; Harry was refused once.
        deposit = record_event(session, Kind.DEPOSIT, at=at, pupil_id=ids["xss"], card_uid=XSS_CARD,
                               locker_id=LOCKER, bay=1, reason=XSS)
        session.add(Holding(pupil_id=ids["xss"], locker_id=LOCKER, bay=1, since=deposit.at,
                            event_id=deposit.id))
        record_event(session, Kind.REFUSED, at=at, pupil_id=ids["harry"], card_uid=HARRY_CARD,
                     locker_id=LOCKER, reason="year5_not_approved")
        session.commit()
    return ids


@pytest.fixture(scope="session")
def school_template(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A migrated, seeded database file to copy, and the ids of what is in it."""
    path = tmp_path_factory.mktemp("school") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    ids = _seed(database)
    database.dispose()  # closing the last connection folds the WAL into the file
    return path, ids


@pytest.fixture
def ids(school_template) -> dict[str, int]:
    return dict(school_template[1])


@pytest.fixture
def db(tmp_path: Path, school_template) -> Database:
    shutil.copy(school_template[0], tmp_path / "t.db")
    database = Database(f"sqlite:///{tmp_path}/t.db")
    yield database
    database.dispose()


@pytest.fixture
def config(tmp_path: Path, db: Database) -> Config:
    # A reader port nobody listens on: nothing here may tap a real demo's reader.
    return Config(
        database=DatabaseConfig(url=db.url),
        reader=ReaderConfig(device=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}"),
        web=WebConfig(secret_key_file=str(tmp_path / "secret_key"), offline_after_seconds=15),
    )


@pytest.fixture
def presented() -> list[str]:
    """UIDs the emulator panel presented (a fake card presenter records them)."""
    return []


@pytest.fixture
def make_app(config: Config, db: Database, tmp_path: Path, presented) -> Callable[..., Flask]:
    def factory(**overrides) -> Flask:
        def present(uid: str, **_kwargs) -> None:
            presented.append(uid)

        settings = {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test secret key, not for production",
            "IMPORT_DIR": str(tmp_path / "imports"),
            "PRESENT_CARD": present,
            **overrides,
        }
        return create_app(config, db, test_config=settings)

    return factory


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def local_clock(hour: int, minute: int = 0, days: int = 0) -> Callable[[], datetime]:
    """A ``CLOCK`` for the app: the seeded day (plus ``days``) at ``hour:minute`` in London."""
    moment = datetime.combine(SEED_DAY + timedelta(days=days), time(hour, minute), tzinfo=ZONE)
    return lambda: moment


def login(client: FlaskClient, username: str, password: str = PASSWORD, **extra):
    """Log in through the form; return the response."""
    return client.post("/login", data={"username": username, "password": password, **extra})


def deposit(db: Database, pupil_id: int, uid: str | None = None) -> None:
    """A hand-in as the kiosk records it: the event and the holding in one transaction."""
    with db.session() as session:
        event = record_event(session, Kind.DEPOSIT, at=naive_utc(SEED_TIME), pupil_id=pupil_id,
                             card_uid=uid, locker_id=LOCKER, bay=1)
        session.add(Holding(pupil_id=pupil_id, locker_id=LOCKER, bay=1, since=event.at,
                            event_id=event.id))
        session.commit()


@pytest.fixture
def as_user(client: FlaskClient) -> Callable[[str], FlaskClient]:
    """``as_user("office")``: the client, logged in as that seeded account."""

    def sign_in(username: str) -> FlaskClient:
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in


@pytest.fixture
def heartbeat(db: Database) -> Callable[..., None]:
    """Write the kiosk's heartbeat (fresh by default), as the kiosk daemon does."""

    def beat(age_seconds: float = 0.0, locked: bool = True) -> None:
        with db.session() as session:
            status = session.get(KioskStatus, LOCKER) or KioskStatus(locker_id=LOCKER)
            status.updated_at = utcnow() - timedelta(seconds=age_seconds)
            status.stopped_at = None
            status.reader_ok = True
            status.emulated = True
            status.hardware_json = json.dumps({
                "bays": [{"bay": 1, "locked": locked, "door": "closed"},
                         {"bay": 2, "locked": True, "door": "closed"}],
                "leds": {"green": not locked, "red": False, "buzzer": False},
            })
            status.last_tap_at = utcnow()
            status.last_tap_uid = AMARA_CARD
            status.last_tap_result = "deposit"
            session.merge(status)
            session.commit()

    return beat
