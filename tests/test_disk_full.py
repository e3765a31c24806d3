"""A disk that refuses writes, end to end: a real kiosk process the kernel stops growing files.

How the disk is filled: ``RLIMIT_FSIZE`` is lowered on the running kiosk
(``resource.prlimit``) to a few hundred bytes past the end of the database's
WAL file. The kernel then refuses to grow it (EFBIG, "File too large"; CPython
ignores SIGXFSZ, so the process is not killed), and every write fails, taps
and heartbeat alike, while reads go on. SQLite's unixWrite() retries a
partial write and then maps any errno but ENOSPC to SQLITE_IOERR_WRITE, so
this is "disk I/O error", not the "database or disk is full" of a really
full disk (which needs root for a tiny mount); the staff message for that
(SQLITE_FULL) is checked with ``PRAGMA max_page_count`` in
tests/test_disk_full_inprocess.py. Raising the limit again is "space returns".

The dashboard runs in this process on the Flask test client, reading the same
database and the kiosk's status file. Its clock is the real one (the kiosk
process keeps the real clock even under ``PHONELOCKER_TEST_NOW``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from hardware.virtual_card import present_card
from kiosk.config import load_config
from kiosk.devtools.kiosk_process import KioskProcess
from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Event, KioskStatus, StaffUser
from kiosk.store.runtime_status import DISK_ERROR, read_status, status_path
from web import create_app

from .conftest import write_config

pytestmark = pytest.mark.slow

AMARA, BEN = "04A1B2C3D4E5F6", "04B1B2C3D4E5F7"
PASSWORD = "correct horse battery staple"


def real_clock():
    """Now on the wall clock, as the kiosk subprocess sees it (even if this process's is moved)."""
    probe = "import time; print(time.time())"
    real = float(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                text=True, check=True).stdout)
    offset = datetime.fromtimestamp(real, UTC) - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def two_bay_school(tmp_path: Path, unlock_seconds: float, extra: str = ""):
    """Two bays, a Year 6 pupil for each (deposits are allowed at any time), an office
    login: ``(config_file, config, db)``, the database migrated and seeded."""
    config_file = write_config(
        tmp_path,
        f"[locker]\nunlock_seconds = {unlock_seconds}\n"
        "[[locker.bays]]\nnumber = 1\nlock_pin = 17\ndoor_pin = 27\n"
        "[[locker.bays]]\nnumber = 2\nlock_pin = 5\ndoor_pin = 6\n"
        "[policy]\ndebounce_seconds = 0\ngrace_seconds = 0\n" + extra,
    )
    config = load_config(config_file)
    db = Database(config.database.url)
    db.upgrade()
    with db.session() as session:
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                  bay=1, actor="test")
        add_pupil(session, name="Ben Adeyemi", year=6, class_name="6K", card_uid=BEN,
                  bay=2, actor="test")
        session.add(StaffUser(username="office", role="office", active=True,
                              password_hash=generate_password_hash(PASSWORD,
                                                                   method="scrypt:1024:8:1")))
        session.commit()
    return config_file, config, db


@pytest.fixture
def locker(tmp_path: Path):
    config_file, config, db = two_bay_school(
        tmp_path, 4, "[web]\noffline_after_seconds = 6\n")
    db.dispose()  # folds the WAL into the file: the kiosk starts a fresh WAL
    return config_file, config


def test_failing_disk_refuses_taps_tells_staff_the_true_state_and_recovers(locker):
    config_file, config = locker
    db = Database(config.database.url)
    clock = real_clock()
    app = create_app(config, db, test_config={
        "TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test", "CLOCK": clock,
    })
    web = app.test_client()
    assert web.post("/login", data={"username": "office", "password": PASSWORD}).status_code \
        == 302
    wal = Path(config.database.url.removeprefix("sqlite:///") + "-wal")
    kiosk = KioskProcess(config_file)
    try:
        kiosk.start()
        pid = kiosk.process.pid

        def heartbeat() -> KioskStatus | None:
            with db.session() as session:
                return session.get(KioskStatus, config.locker.id)

        wait_until(lambda: heartbeat() and heartbeat().reader_ok, 10, "the reader")
        present_card(AMARA, hold=0.2, path=config.reader.device)
        beat = wait_until(lambda: (s := heartbeat()) and s.last_tap_result == "deposit" and s,
                          5, "Amara's deposit in the heartbeat")
        bays = json.loads(beat.hardware_json)["bays"]
        assert {"bay": 1, "locked": False, "door": "closed"} in bays

        # The disk fills up while bay 1 is still open: the heartbeat keeps saying "unlocked".
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (wal.stat().st_size + 512,
                                                      resource.RLIM_INFINITY))
        document = wait_until(lambda: (d := read_status(status_path(config))) and
                              d["problem"] and all(b["locked"] for b in d["bays"]) and d,
                              15, "the status file with every bay relocked")
        assert document["problem"] == DISK_ERROR == "cannot record taps: disk I/O error"
        assert document["ok"] is False and document["reader_ok"] is True
        assert "disk I/O error" in document["detail"]

        # Ben taps: refused (nothing can be recorded), his bay stays locked.
        present_card(BEN, hold=0.2, path=config.reader.device)
        wait_until(lambda: f"tap {BEN} failed" in kiosk.log(), 5, "Ben's tap")
        time.sleep(2.5)  # a beat later, the status file has the locks' state after the tap
        after_tap = read_status(status_path(config))
        assert all(bay["locked"] for bay in after_tap["bays"])

        # Staff see it once the heartbeat is stale: not "offline" and a stale unlocked bay.
        wait_until(lambda: not web.get("/api/lockers").get_json()["lockers"][0]["online"],
                   15, "the heartbeat to go stale")
        panel = web.get("/api/lockers").get_json()
        shown = panel["lockers"][0]
        assert shown["problem"] == DISK_ERROR
        assert [bay["locked"] for bay in shown["bays"]] == [True, True]
        assert "Cannot record taps: disk I/O error" in panel["html"]["lockers"]
        assert ">offline<" not in panel["html"]["lockers"]
        assert "Cannot record taps: disk I/O error" in web.get("/").get_data(as_text=True)
        screen = web.get("/api/screen").get_json()
        assert screen["tone"] == "fault"
        assert screen["message"] == "Cannot record taps: disk I/O error"

        # One clear line, not one per beat (the heartbeat failed several times by now).
        log = kiosk.log()
        assert log.count("cannot record taps: disk I/O error (") == 1, log
        assert "could not write heartbeat" not in log
        assert "UNIQUE constraint failed" not in log  # a new database: one heartbeat writer

        # Space returns: the heartbeat works again at once, and Ben's next tap is recorded.
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,
                                                      resource.RLIM_INFINITY))
        wait_until(lambda: web.get("/api/lockers").get_json()["lockers"][0]["online"],
                   10, "the heartbeat to come back")
        present_card(BEN, hold=0.2, path=config.reader.device)
        wait_until(lambda: (read_status(status_path(config)) or {}).get("ok"), 10,
                   "the status file to say ok")
        shown = web.get("/api/lockers").get_json()["lockers"][0]
        assert shown["problem"] is None and shown["online"]
        assert "database writes work again" in kiosk.log()
    finally:
        kiosk.__exit__(None, None, None)
    with db.session() as session:
        deposits = session.scalars(select(Event.card_uid).where(Event.kind == Kind.DEPOSIT))
        assert list(deposits) == [AMARA, BEN]  # Ben's refused tap was never recorded
        assert session.get(KioskStatus, config.locker.id).stopped_at is not None
    db.dispose()
