"""``phonelocker notify`` against real SMTP servers (aiosmtpd) in the test process.

Scenarios use fixed instants passed as ``now`` (Tuesday 2 December 2025 is a
school day in winter, London = UTC), never the wall clock, so they pass at
any time of day and under PHONELOCKER_TEST_NOW.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from kiosk.calendar.days import DayEntry, set_day
from kiosk.notify.finder import is_closed
from kiosk.notify.outbox import backoff
from kiosk.notify.run import run_notify
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Notice
from kiosk.timeutil import naive_utc

from .notify_helpers import (
    SilentServer,
    SmtpServer,
    at,
    heartbeat,
    hold,
    notify_config,
    seed_school,
    teacher,
)

TUESDAY_0841 = at("2025-12-02T08:41:00")


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def setup(tmp_path, smtp):
    """(config, database, pupil ids) with [notify] pointing at the aiosmtpd server."""
    _path, config = notify_config(tmp_path, smtp.port)
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        ids = seed_school(session)
    yield config, database, ids
    database.dispose()


def run(database, config, now, **kwargs):
    with database.session() as session:
        return run_notify(session, config, now, **kwargs)


def notices(database):
    with database.session() as session:
        return list(session.scalars(select(Notice).order_by(Notice.id)))


# --- phones not collected -----------------------------------------------------------


def test_phones_not_collected_go_to_each_teacher_for_their_class_and_the_office(setup, smtp):
    config, database, ids = setup
    with database.session() as session:
        for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper"):
            hold(session, ids[name], TUESDAY_0841)
        teacher(session, "mrsk", "k@school.example", "6K")
        teacher(session, "mrr", "r@school.example", "6R")
        teacher(session, "mrsm", "m@school.example", "6M")  # no phone of 6M: no notice
        teacher(session, "noemail", None, "6K")
        teacher(session, "leftschool", "gone@school.example", "6K", active=False)

    report = run(database, config, at("2025-12-02T15:44:00"))
    assert report.queued == [] and smtp.mailbox.messages == []  # 29 minutes: not yet

    report = run(database, config, at("2025-12-02T15:45:00"))

    assert sorted(m["To"] for m in smtp.mailbox.messages) == [
        "k@school.example", "office@school.example", "r@school.example"]
    (to_k,) = smtp.mailbox.to("k@school.example")
    body_k = to_k.get_content()
    assert "Ada Lovelace" in body_k and "Alan Turing" in body_k and "Grace Hopper" not in body_k
    (to_office,) = smtp.mailbox.to("office@school.example")
    assert all(name in to_office.get_content()
               for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper"))
    for message in smtp.mailbox.messages:
        assert "Lovelace" not in message["Subject"] and "Hopper" not in message["Subject"]
        assert message["From"] == "phonelocker@school.example"
        assert message["Auto-Submitted"] == "auto-generated"
    assert len(report.sent.sent) == 3

    # Every later run that day, and a restart, finds the same occasion: nothing new.
    for minutes in (1, 2, 60):
        run(database, config, at("2025-12-02T15:45:00") + timedelta(minutes=minutes))
    assert len(smtp.mailbox.messages) == 3
    assert all(n.status == "sent" and n.attempts == 1 for n in notices(database))


def test_not_collected_follows_the_school_zone_in_summer(tmp_path, smtp):
    """2 June 2026: 15:45 in London is 14:45 UTC."""
    _path, config = notify_config(tmp_path, smtp.port)
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        ids = seed_school(session)
        hold(session, ids["Ada Lovelace"], at("2026-06-02T07:41:00"))
    run(database, config, at("2026-06-02T14:44:59"))
    assert smtp.mailbox.messages == []
    run(database, config, at("2026-06-02T14:45:00"))
    assert [m["To"] for m in smtp.mailbox.messages] == ["office@school.example"]
    assert "Tue 2 Jun 2026" in smtp.mailbox.messages[0]["Subject"]
    database.dispose()


def test_a_phone_collected_in_time_is_not_reported(setup, smtp):
    config, database, _ids = setup
    run(database, config, at("2025-12-02T15:50:00"))  # nothing held
    assert smtp.mailbox.messages == [] and notices(database) == []


def test_no_notice_on_a_closed_day(setup, smtp):
    config, database, ids = setup
    saturday = at("2025-12-06T16:00:00")
    with database.session() as session:
        assert is_closed(session, saturday.date())
        assert not is_closed(session, TUESDAY_0841.date())
        hold(session, ids["Ada Lovelace"], at("2025-12-05T08:00:00"))
        heartbeat(session, saturday - timedelta(hours=5))  # offline all day
        record_event(session, Kind.FORCED_DOOR, at=naive_utc(saturday - timedelta(minutes=1)),
                     locker_id="locker-1", bay=1)
        session.commit()
    for minutes in range(0, 600, 60):
        run(database, config, saturday + timedelta(minutes=minutes))
    assert smtp.mailbox.messages == [] and notices(database) == []


def test_the_calendar_closes_a_weekday_and_moves_the_collection_time(setup, smtp):
    config, database, ids = setup
    inset = at("2025-12-03T16:30:00")  # a Wednesday the calendar closes
    with database.session() as session:
        set_day(session, DayEntry(inset.date(), True, None, "INSET day"), by="office",
                now=TUESDAY_0841)
        set_day(session, DayEntry(TUESDAY_0841.date(), False, time(13, 30), "end of term"),
                by="office", now=TUESDAY_0841)
        assert is_closed(session, inset.date()) and not is_closed(session, TUESDAY_0841.date())
        hold(session, ids["Ada Lovelace"], at("2025-12-02T08:30:00"))
        session.commit()
    # Tuesday's collection is at 13:30: 30 minutes later the office hears of Ada's phone
    run(database, config, at("2025-12-02T13:59:00"))
    assert notices(database) == []
    run(database, config, at("2025-12-02T14:01:00"))
    assert [n.kind for n in notices(database)] == ["not_collected"]
    # the closed Wednesday: no notice at all, though the phone is still there
    for minutes in range(0, 300, 60):
        run(database, config, inset + timedelta(minutes=minutes))
    assert [n.kind for n in notices(database)] == ["not_collected"]


# --- overnight --------------------------------------------------------------------


def test_a_phone_kept_overnight_is_reported_to_the_office_next_morning(setup, smtp):
    config, database, ids = setup
    with database.session() as session:
        hold(session, ids["Ada Lovelace"], at("2025-12-01T08:30:00"))  # Monday
        teacher(session, "mrsk", "k@school.example", "6K")
    run(database, config, at("2025-12-01T23:59:00"))
    # Monday evening: only the not-collected notices (office, teacher), no overnight yet.
    assert {n.kind for n in notices(database)} == {"not_collected"}
    run(database, config, at("2025-12-02T00:01:00"))
    overnight = [n for n in notices(database) if n.kind == "overnight"]
    assert [(n.address, n.status) for n in overnight] == [("office@school.example", "sent")]
    assert overnight[0].sent_at < naive_utc(at("2025-12-02T08:00:00"))
    assert "Ada Lovelace" in overnight[0].body and "Ada" not in overnight[0].subject
    run(database, config, at("2025-12-02T07:00:00"))
    assert len([n for n in notices(database) if n.kind == "overnight"]) == 1


# --- kiosk offline, reader fault ---------------------------------------------------------


def test_kiosk_offline_over_five_minutes_then_recovered_tells_it_and_office_once(setup, smtp):
    config, database, _ids = setup
    last_beat = at("2025-12-02T09:00:00")
    with database.session() as session:
        heartbeat(session, last_beat)
    run(database, config, last_beat + timedelta(minutes=4))
    assert smtp.mailbox.messages == []  # offline, but not 5 minutes yet
    run(database, config, last_beat + timedelta(minutes=5, seconds=1))
    assert sorted(m["To"] for m in smtp.mailbox.messages) == [
        "it@school.example", "office@school.example"]
    assert all("kiosk offline since 09:00" in m["Subject"] for m in smtp.mailbox.messages)
    run(database, config, last_beat + timedelta(minutes=7))
    assert len(smtp.mailbox.messages) == 2

    back = last_beat + timedelta(minutes=20)
    with database.session() as session:
        heartbeat(session, back)
    run(database, config, back + timedelta(seconds=2))
    run(database, config, back + timedelta(seconds=30))
    recovered = [m for m in smtp.mailbox.messages if "recovered" in m["Subject"]]
    assert sorted(m["To"] for m in recovered) == ["it@school.example", "office@school.example"]
    assert len(smtp.mailbox.messages) == 4


def test_a_short_blip_and_faults_outside_the_school_day_send_nothing(setup, smtp):
    config, database, _ids = setup
    with database.session() as session:
        heartbeat(session, at("2025-12-02T10:00:00"))
    run(database, config, at("2025-12-02T10:03:00"))  # offline 3 minutes...
    with database.session() as session:
        heartbeat(session, at("2025-12-02T10:03:30"))
    run(database, config, at("2025-12-02T10:03:31"))  # ...and back: nobody is told
    with database.session() as session:
        heartbeat(session, at("2025-12-02T18:00:00"))
    run(database, config, at("2025-12-02T21:00:00"))  # offline in the evening
    assert smtp.mailbox.messages == []
    # Still offline the next morning: 5 minutes into the school day (07:30) it is reported.
    run(database, config, at("2025-12-03T07:34:00"))
    assert smtp.mailbox.messages == []
    run(database, config, at("2025-12-03T07:35:00"))
    assert len(smtp.mailbox.messages) == 2
    # Dated from the evening's last heartbeat, not from the morning's forgotten blip.
    assert {m["Subject"] for m in smtp.mailbox.messages} == {
        "Phone Locker: Year 6 locker: kiosk offline since 18:00"}


def test_a_reader_fault_is_dated_from_its_event(setup, smtp):
    config, database, _ids = setup
    now = at("2025-12-02T11:00:00")
    with database.session() as session:
        heartbeat(session, now, reader_ok=False)
        record_event(session, Kind.READER_FAULT, at=naive_utc(now - timedelta(minutes=6)),
                     locker_id="locker-1", reason="usb")
        session.commit()
    run(database, config, now)
    subjects = {m["Subject"] for m in smtp.mailbox.messages}
    assert subjects == {"Phone Locker: Year 6 locker: card reader fault since 10:54"}


# --- alarms -----------------------------------------------------------------------------


def test_forced_door_and_emergency_unlock_reach_the_office_at_once_and_once(setup, smtp):
    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    with database.session() as session:
        record_event(session, Kind.OVERRIDE, at=naive_utc(now - timedelta(days=3)),
                     locker_id="locker-1", actor="office", reason="old")  # before notify ran
        session.commit()
    run(database, config, now)  # the first run starts the cursor: history is not mailed
    assert smtp.mailbox.messages == []
    with database.session() as session:
        record_event(session, Kind.FORCED_DOOR, at=naive_utc(now + timedelta(seconds=10)),
                     locker_id="locker-1", bay=1, reason="door opened while locked")
        record_event(session, Kind.OVERRIDE, at=naive_utc(now + timedelta(seconds=20)),
                     locker_id="locker-1", actor="head", reason="fire drill")
        record_event(session, Kind.DEPOSIT, at=naive_utc(now + timedelta(seconds=25)),
                     locker_id="locker-1", bay=1)
        session.commit()
    run(database, config, now + timedelta(minutes=1))
    run(database, config, now + timedelta(minutes=2))
    assert [m["Subject"] for m in smtp.mailbox.messages] == [
        "Phone Locker: Year 6 locker: door forced open (bay 1) at 12:00",
        "Phone Locker: Year 6 locker: emergency unlock (every bay) at 12:00",
    ]
    assert all(m["To"] == "office@school.example" for m in smtp.mailbox.messages)
    assert "Reason: fire drill" in smtp.mailbox.messages[1].get_content()


def test_a_forced_door_on_a_closed_day_is_reported_on_the_next_open_day(setup, smtp):
    config, database, _ids = setup
    run(database, config, at("2025-12-05T17:00:00"))  # Friday: the cursor starts
    with database.session() as session:
        record_event(session, Kind.FORCED_DOOR, at=naive_utc(at("2025-12-06T11:00:00")),
                     locker_id="locker-1", bay=1)
        session.commit()
    run(database, config, at("2025-12-06T11:01:00"))  # Saturday
    assert smtp.mailbox.messages == []
    run(database, config, at("2025-12-08T00:00:30"))  # Monday
    assert [m["Subject"] for m in smtp.mailbox.messages] == [
        "Phone Locker: Year 6 locker: door forced open (bay 1) at 11:00"]


# --- SMTP failures: refused, busy, silent; then recovery ------------------------------------


def _queue_an_alarm(database, config, now, *, queued: bool = False):
    """A forced door at ``now``, after notify's first run; with ``queued``, in the outbox."""
    from kiosk.notify.finder import find_all
    from kiosk.notify.outbox import queue

    run(database, config, now - timedelta(minutes=1), connect=None)  # cursor starts
    with database.session() as session:
        record_event(session, Kind.FORCED_DOOR, at=naive_utc(now), locker_id="locker-1", bay=1)
        if queued:
            queue(session, find_all(session, config, now), now)
        session.commit()


@pytest.mark.parametrize(("mode", "said"), [("refuse", "550"), ("busy", "421")])
def test_a_refusing_server_is_retried_with_back_off_then_sent_exactly_once(
    setup, smtp, mode, said
):
    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    _queue_an_alarm(database, config, now)
    smtp.mailbox.mode = mode

    report = run(database, config, now)
    assert report.sent.failed and not report.sent.sent
    (notice,) = notices(database)
    assert notice.status == "pending" and notice.attempts == 1
    assert said in notice.last_error
    assert notice.next_attempt_at == naive_utc(now) + timedelta(minutes=1)

    run(database, config, now + timedelta(seconds=30))  # not due yet: not tried
    assert notices(database)[0].attempts == 1
    run(database, config, now + timedelta(minutes=1))  # due: fails again, waits 2 minutes
    (notice,) = notices(database)
    assert notice.attempts == 2
    assert notice.next_attempt_at == naive_utc(now) + timedelta(minutes=3)
    tried = smtp.mailbox.refused

    smtp.mailbox.mode = "accept"
    run(database, config, now + timedelta(minutes=3))
    for minutes in (4, 5, 90):
        run(database, config, now + timedelta(minutes=minutes))
    assert tried == 2
    assert [m["To"] for m in smtp.mailbox.messages] == ["office@school.example"]
    (notice,) = notices(database)
    assert notice.status == "sent" and notice.attempts == 3 and notice.last_error is None


def test_a_silent_server_times_out_and_nothing_is_lost(setup, smtp):
    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    _queue_an_alarm(database, config, now)
    with SilentServer() as silent:
        hanging = replace(config, notify=replace(config.notify, port=silent.port,
                                                 timeout_seconds=1))
        report = run(database, hanging, now)
        assert silent.accepted == 1
    assert report.sent.stopped and "no answer within 1 s" in report.sent.stopped
    (notice,) = notices(database)
    assert notice.status == "pending" and "no answer within 1 s" in notice.last_error
    run(database, config, now + timedelta(minutes=1))  # the real server is back
    assert len(smtp.mailbox.messages) == 1
    assert notices(database)[0].status == "sent"


def test_an_unreachable_server_stops_the_run_and_keeps_every_notice(setup, smtp):
    config, database, ids = setup
    with database.session() as session:
        for pupil_id in ids.values():
            hold(session, pupil_id, TUESDAY_0841)
        teacher(session, "mrsk", "k@school.example", "6K")
        teacher(session, "mrr", "r@school.example", "6R")
    now = at("2025-12-02T16:00:00")
    smtp.controller.stop()
    report = run(database, config, now)
    assert len(report.queued) == 3
    assert len(report.sent.failed) == 1  # the first one; the run stopped there
    assert all(n.status == "pending" for n in notices(database))
    smtp.restart()
    run(database, config, now + timedelta(minutes=1))
    assert len(smtp.mailbox.messages) == 3


def test_starttls_required_but_not_offered_sends_nothing_in_clear(tmp_path, smtp):
    _path, config = notify_config(tmp_path, smtp.port, "")
    config = replace(config, notify=replace(config.notify, starttls=True))
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        seed_school(session)
    now = at("2025-12-02T12:00:00")
    _queue_an_alarm(database, config, now)
    report = run(database, config, now)
    assert "does not offer STARTTLS" in report.sent.stopped
    assert smtp.mailbox.messages == []
    database.dispose()


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() / 60 for n in range(1, 10)] == [
        1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_claimed_notice_is_not_sent_by_a_second_run_meanwhile(setup, smtp):
    """Two notify runs at once: the claim (one UPDATE) lets only one of them send."""
    from kiosk.notify.outbox import _claim

    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    _queue_an_alarm(database, config, now, queued=True)
    with database.session() as session:
        (notice,) = notices(database)
        assert _claim(session, notice.id, now)
    run(database, config, now)  # the other run: the row is claimed, not sent again
    assert smtp.mailbox.messages == []
    # A run that died after claiming: after the claim runs out, the row is sent.
    run(database, config, now + timedelta(minutes=11))
    assert len(smtp.mailbox.messages) == 1


def test_two_runs_that_both_saw_a_notice_due_send_it_once(setup, smtp):
    from kiosk.notify.outbox import _claim, due

    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    _queue_an_alarm(database, config, now, queued=True)
    with database.session() as first, database.session() as second:
        (seen_first,) = due(first, now)
        (seen_second,) = due(second, now)
        assert _claim(first, seen_first.id, now)
        assert not _claim(second, seen_second.id, now)


# --- dry run -----------------------------------------------------------------------------


def test_dry_run_lists_what_would_be_sent_and_changes_nothing(setup, smtp):
    config, database, ids = setup
    with database.session() as session:
        hold(session, ids["Grace Hopper"], TUESDAY_0841)
    now = at("2025-12-02T15:50:00")
    report = run(database, config, now, dry_run=True)
    assert [(item.kind, item.address) for item in report.would_send] == [
        ("not_collected", "office@school.example")]
    assert "Grace Hopper" in report.would_send[0].body
    assert smtp.mailbox.messages == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 0
    run(database, config, now)
    assert len(smtp.mailbox.messages) == 1


def test_sent_notices_are_deleted_after_30_days(setup, smtp):
    """Their bodies name pupils: an outbox is not an archive."""
    config, database, ids = setup
    with database.session() as session:
        hold(session, ids["Ada Lovelace"], TUESDAY_0841)
    run(database, config, at("2025-12-02T15:50:00"))
    run(database, config, at("2026-01-01T15:49:00"))  # 29 days 23:59 later: kept
    assert [(n.occasion, n.status) for n in notices(database)] == [
        ("2025-12-02", "sent"), ("2026-01-01", "sent")]
    run(database, config, at("2026-01-01T15:51:00"))
    assert [n.occasion for n in notices(database)] == ["2026-01-01"]
    assert len(smtp.mailbox.messages) == 2  # forgetting the old row re-sent nothing


# --- doctor, schema -------------------------------------------------------------------------


def test_doctor_reports_failing_and_late_notices_with_the_last_error(setup, smtp):
    from kiosk.care.doctor import check_notify

    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    assert check_notify(replace(config, notify=None), database).ok is None
    _queue_an_alarm(database, config, now)
    smtp.mailbox.mode = "refuse"
    run(database, config, now)
    check = check_notify(config, database, now)
    assert check.ok is False
    assert "1 notice(s) failing" in check.detail and "550 5.1.1" in check.detail
    smtp.mailbox.mode = "accept"
    run(database, config, now + timedelta(minutes=1))
    check = check_notify(config, database, now + timedelta(minutes=2))
    assert check.ok is True and "1 sent in the last 24 h, 0 queued" in check.detail


def test_doctor_reports_a_notice_waiting_too_long(setup, smtp):
    from kiosk.care.doctor import check_notify

    config, database, _ids = setup
    now = at("2025-12-02T12:00:00")
    _queue_an_alarm(database, config, now, queued=True)  # queued, never sent
    assert check_notify(config, database, now + timedelta(minutes=5)).ok is True
    late = check_notify(config, database, now + timedelta(minutes=11))
    assert late.ok is False and "1 waiting over 10 min" in late.detail


def test_the_migration_matches_the_notify_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kiosk.store.db import SCHEMA_REVISION, current_revision
    from kiosk.store.models import Base

    database = Database(f"sqlite:///{tmp_path}/fresh.db")
    database.upgrade()
    assert current_revision(database.engine) == SCHEMA_REVISION
    with database.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    database.dispose()
    assert diffs == []


# --- STARTTLS and signing in ---------------------------------------------------------------


def test_starttls_and_sign_in_with_the_password_file(tmp_path, monkeypatch):
    """A real TLS upgrade (self-signed certificate trusted via SSL_CERT_FILE) and AUTH."""
    import shutil
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from kiosk.devtools.ports import free_port

    from .notify_helpers import Mailbox

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found (apt install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((session.ssl is not None, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret value")

    mailbox = Mailbox()
    port = free_port(socket.SOCK_STREAM)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=30,
                            tls_context=tls, require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    (tmp_path / "smtp_password").write_text("s3cret value\n")
    _path, config = notify_config(tmp_path, port, (
        'username = "locker@school.example"\n'
        f'password_file = "{tmp_path / "smtp_password"}"\n'
    ))
    config = replace(config, notify=replace(config.notify, starttls=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        seed_school(session)
    now = at("2025-12-02T12:00:00")
    controller.start()
    try:
        _queue_an_alarm(database, config, now)
        report = run(database, config, now)
    finally:
        controller.stop()
    assert report.sent.failed == [], [n.last_error for n in report.sent.failed]
    assert logins == [(True, b"locker@school.example", b"s3cret value")]
    assert [m["To"] for m in mailbox.messages] == ["office@school.example"]
    database.dispose()


def test_doctor_wants_the_notify_timer_enabled_once_email_is_set_up(tmp_path):
    from kiosk.care.doctor import check_services
    from kiosk.config import parse_config

    systemctl = tmp_path / "systemctl"
    systemctl.write_text('#!/bin/sh\n[ "$2" = phonelocker-notify.timer ] && '
                         '{ echo disabled; exit 1; }\necho enabled\n')
    systemctl.chmod(0o755)
    real = {"reader": {"device": "usb"}, "gpio": {"pin_factory": "lgpio"}}
    without = check_services(parse_config(real), str(systemctl))
    assert without.ok is True and without.detail == "kiosk, web and maintenance timer enabled"
    email = {**real, "notify": {"host": "m", "from": "pl@school.example"}}
    with_email = check_services(parse_config(email), str(systemctl))
    assert with_email.ok is False
    assert with_email.detail == "phonelocker-notify.timer disabled"
