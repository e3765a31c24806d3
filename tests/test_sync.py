"""Many lockers, one school: kiosks with their own SQLite, syncing with a central database
(SQLite here; tests/test_sync_postgres.py runs the same school on PostgreSQL)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from kiosk.school.pupils import add_pupil, get_pupil, office_takes_phone, revoke_card
from kiosk.store.db import Database
from kiosk.store.events import Kind
from kiosk.store.models import Card, Event, Holding, Pupil
from kiosk.sync.join import JoinNeedsAttention
from tests.sync_helpers import Clock, School, morning

AMARA, BEN = "04A1B2C3D4E5F6", "04B1B2C3D4E5F6"


@pytest.fixture
def school(tmp_path):
    url = f"sqlite:///{tmp_path / 'central.db'}"
    central = Database(url)
    central.upgrade()
    with central.session() as session:
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                  actor="office", external_id="UPN1")
        add_pupil(session, name="Ben Ward", year=6, class_name="6R", card_uid=BEN,
                  actor="office", external_id="UPN2")
        session.commit()
    made = School(tmp_path, url, central, Clock(morning()))
    yield made
    made.close()


def central_events(school, kind=None):
    with school.central.session() as session:
        query = select(Event).order_by(Event.id)
        if kind:
            query = query.where(Event.kind == kind)
        return list(session.scalars(query))


def test_a_tap_reaches_the_central_database_once_with_its_holding(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    outcome = k6.tap(AMARA)
    assert outcome.decision.action == "deposit"
    k6.sync()
    k6.sync()
    deposits = central_events(school, "deposit")
    assert len(deposits) == 1
    assert deposits[0].uid and deposits[0].locker_id == "6k"
    with school.central.session() as session:
        holding = session.scalars(select(Holding)).one()
        assert holding.locker_id == "6k"
        assert holding.event_id == deposits[0].id


def test_a_phone_in_another_locker_is_not_handed_in_twice(school):
    k6, r6 = school.kiosk("6k", "6K"), school.kiosk("6r", "6R")
    k6.sync()
    r6.sync()
    assert k6.tap(AMARA).decision.action == "deposit"
    k6.sync()
    school.clock.advance(5)
    r6.sync()
    outcome = r6.tap(AMARA)
    assert outcome.decision.action == "refuse"
    assert outcome.decision.reason == "in_other_locker"
    assert outcome.decision.message == "Your phone is in the 6K locker"


def test_a_change_made_centrally_reaches_the_kiosk_at_its_next_cycle(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    with school.central.session() as session:
        revoke_card(session, AMARA, actor="office", reason="lost")
        session.commit()
    k6.sync()
    outcome = k6.tap(AMARA)
    assert outcome.decision.reason == "card_revoked"


def test_offline_taps_are_kept_and_sent_exactly_once_when_back(school, tmp_path):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    broken = school.central_url
    k6.worker.url = f"sqlite:///{tmp_path / 'missing' / 'x' / 'central.db'}"
    k6.worker._engine = None
    k6.worker._disconnect()
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "x").write_text("not a directory")  # so the open fails
    with pytest.raises(Exception):  # noqa: B017 - any failure to reach it
        k6.sync()
    k6.worker._failed(RuntimeError("cut"))
    assert k6.tap(AMARA).decision.action == "deposit"
    report = k6.worker.report()
    assert not report.connected
    k6.worker.url = broken
    k6.worker._engine = None
    k6.sync()
    k6.sync()
    assert len(central_events(school, "deposit")) == 1
    assert len(central_events(school, "sync_back_online")) == 1
    assert k6.worker.report().connected


def test_the_office_hand_back_recorded_centrally_ends_the_holding_at_the_kiosk(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    k6.tap(AMARA)
    k6.sync()
    with school.central.session() as session:
        pupil = session.scalars(select(Pupil).where(Pupil.external_id == "UPN1")).one()
        office_takes_phone(session, pupil, actor="office", reason="dentist")
        session.commit()
    k6.sync()
    k6.sync()
    with k6.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Holding)) == 0
    with school.central.session() as session:
        assert session.scalar(select(func.count()).select_from(Holding)) == 0
    assert len(central_events(school, "office_return")) == 1


def test_a_card_cancelled_centrally_but_used_offline_is_flagged(school):
    k6 = school.kiosk("6k", "6K")
    k6.sync()
    with school.central.session() as session:
        revoke_card(session, AMARA, actor="office", reason="lost", now=school.clock())
        session.commit()
    school.clock.advance(60)
    assert k6.tap(AMARA).decision.action == "deposit"  # it did not know yet
    k6.sync()
    conflicts = central_events(school, Kind.SYNC_CONFLICT)
    assert len(conflicts) == 1
    assert "cancelled" in conflicts[0].reason
    assert len(central_events(school, "deposit")) == 1


def test_a_standalone_school_joins_matched_by_upn_without_duplicates(school, tmp_path):
    k6 = school.kiosk("6k", "6K")
    # before it had a central database: its own pupils, one the central roll has too
    with k6.db.session() as session:
        add_pupil(session, name="Zed Local", year=6, class_name="6K", card_uid="04C1B2C3D4E5F6",
                  actor="office")
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                  actor="office", external_id="UPN1")
        session.commit()
    assert k6.tap("04C1B2C3D4E5F6").decision.action == "deposit"
    k6.sync()
    k6.sync()
    with school.central.session() as session:
        names = sorted(session.scalars(select(Pupil.name)))
        assert names == ["Amara Okafor", "Ben Ward", "Zed Local"]
        zed = session.scalars(select(Pupil).where(Pupil.name == "Zed Local")).one()
        deposit = session.scalars(select(Event).where(Event.kind == "deposit")).one()
        assert deposit.pupil_id == zed.id
        assert session.get(Holding, zed.id) is not None
        assert session.scalar(select(func.count()).select_from(Card)) == 3
    with k6.db.session() as session:
        assert get_pupil(session, zed.id).name == "Zed Local"


def test_a_join_that_cannot_match_safely_writes_nothing_and_says_who(school):
    with school.central.session() as session:  # two central pupils of that name and class
        add_pupil(session, name="Sam Lee", year=6, class_name="6K", actor="office")
        add_pupil(session, name="Sam Lee", year=6, class_name="6K", actor="office")
        session.commit()
    k6 = school.kiosk("6k", "6K")
    with k6.db.session() as session:
        add_pupil(session, name="Sam Lee", year=6, class_name="6K", actor="office")
        session.commit()
    with pytest.raises(JoinNeedsAttention, match=r"Sam Lee \(6K\)"):
        k6.sync()
    with school.central.session() as session:
        assert session.scalar(select(func.count()).select_from(Pupil)) == 4


def test_sync_status_and_lockers_json_say_where_the_kiosk_is(school):
    from tests.conftest import run_cli

    k6 = school.kiosk("6k", "6K")
    k6.sync()
    k6.tap(AMARA)
    document = json.loads(run_cli(k6.config_file, "sync", "status", "--json").stdout)
    assert document["central"] == school.central_url
    assert document["connected"] is True  # the kiosk is not running: it connected itself
    assert document["pending_events"] >= 1  # the deposit, not yet sent
    assert document["last_error"] is None
    k6.sync()
    document = json.loads(run_cli(k6.config_file, "sync", "status", "--json").stdout)
    assert document["pending_events"] == 0
    dashboard = school.root / "dashboard.toml"
    dashboard.write_text(f'[database]\nurl = "{school.central_url}"\n'
                         f'[web]\nsecret_key_file = "{school.root / "key"}"\n')
    lockers = json.loads(run_cli(dashboard, "lockers", "--json").stdout)
    [row] = [row for row in lockers if row["id"] == "6k"]
    assert row["last_sync"] is not None and row["pending_events"] == 0


def test_a_password_never_shows_in_sync_status(tmp_path):
    from kiosk.sync.central import display_url

    shown = display_url("postgresql+psycopg://kiosk:s3cret@db.school.lan/phonelocker")
    assert "s3cret" not in shown and "kiosk" in shown


@pytest.mark.parametrize("body, message", [
    ('[central]\npoll_seconds = 1\n', "[central].url: missing"),
    ('[central]\nurl = "mysql://x/y"\n', "not supported"),
    ('[central]\nurl = "nonsense"\n', "is not a database URL"),
    ('[central]\nurl = "postgresql+psycopg://k@db/s"\npoll_seconds = 0\n', "poll_seconds"),
    ('[central]\nurl = "postgresql+psycopg://k@db/s"\ncolour = 1\n', "colour"),
])
def test_a_malformed_central_section_is_a_clear_config_error(tmp_path, body, message):
    from kiosk.config import load_config
    from kiosk.config_values import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_the_kiosk_role_is_never_granted_staff_accounts_or_sessions():
    from kiosk.sync.grants import PRIVATE_TABLES, grant_statements

    statements = grant_statements("phonelocker_kiosk")
    granted = {s.split(" ON ")[1].split(" TO ")[0] for s in statements if s.startswith("GRANT")
               and "SEQUENCE" not in s}
    assert granted.isdisjoint(PRIVATE_TABLES)
    assert {"events", "holdings", "kiosk_status", "pupils", "cards"} <= granted
    with pytest.raises(ValueError):
        grant_statements("kiosk; DROP TABLE pupils")


def test_the_dashboard_shows_each_lockers_sync_and_its_conflicts(school):
    from werkzeug.security import generate_password_hash

    from kiosk.config import load_config
    from kiosk.store.models import StaffUser
    from web import create_app

    k6 = school.kiosk("6k", "6K")
    k6.sync()
    with school.central.session() as session:
        revoke_card(session, AMARA, actor="office", reason="lost", now=school.clock())
        session.add(StaffUser(username="office", role="office", active=True,
                              password_hash=generate_password_hash("pw", method="scrypt:1024:8:1")))
        session.commit()
    school.clock.advance(30)
    k6.tap(AMARA)  # offline knowledge: the card was still good here
    k6.service.hardware.close()
    k6.sync()
    dashboard = school.root / "dashboard.toml"
    dashboard.write_text(f'[database]\nurl = "{school.central_url}"\n'
                         f'[web]\nsecret_key_file = "{school.root / "key"}"\n')
    app = create_app(load_config(dashboard), school.central, test_config={
        "TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t", "CLOCK": school.clock})
    web = app.test_client()
    assert web.post("/login", data={"username": "office", "password": "pw"}).status_code == 302
    page = web.get("/").get_data(as_text=True)
    assert "Central database:" in page and "last sync" in page
    assert "1 sync conflict" in page


def test_sync_join_by_hand_through_another_url_then_sync_now_is_reported(school):
    from tests.conftest import run_cli

    k6 = school.kiosk("6k", "6K", central_url=f"sqlite:///{school.root}/central.db/not-here.db")
    with k6.db.session() as session:
        add_pupil(session, name="Zed Local", year=6, class_name="6K", actor="office")
        session.commit()
    dry = json.loads(run_cli(k6.config_file, "sync", "join", "--dry-run", "--json", "--url",
                             school.central_url).stdout)
    assert dry["added"] == ["Zed Local (6K)"] and not dry["joined"]
    done = json.loads(run_cli(k6.config_file, "sync", "join", "--json", "--url",
                              school.central_url).stdout)
    assert done["joined"] and done["added"] == ["Zed Local (6K)"]
    again = json.loads(run_cli(k6.config_file, "sync", "join", "--json", "--url",
                               school.central_url).stdout)
    assert again["already"]
    with school.central.session() as session:
        assert session.scalar(select(func.count()).where(Pupil.name == "Zed Local")) == 1
    bad = run_cli(k6.config_file, "sync", "join", "--url", "nonsense", check=False)
    assert bad.returncode == 2 and "--url" in bad.stderr


def test_sync_now_by_hand_is_the_last_sync_status_reports(school):
    from tests.conftest import run_cli

    k6 = school.kiosk("6k", "6K")
    before = json.loads(run_cli(k6.config_file, "sync", "status", "--json").stdout)
    assert before["last_sync"] is None and before["connected"]
    assert run_cli(k6.config_file, "sync", "now").stdout.strip() == "synced"
    after = json.loads(run_cli(k6.config_file, "sync", "status", "--json").stdout)
    assert after["last_sync"] is not None and after["pending_events"] == 0
    # a "central file" whose folder is a file: it cannot be opened (a SQLite stand-in for a
    # server that does not answer; tests/test_sync_postgres.py cuts a real network link)
    unreachable = school.kiosk("6r", "6R",
                               central_url=f"sqlite:///{k6.config_file}/central.db")
    failed = run_cli(unreachable.config_file, "sync", "now", check=False)
    assert failed.returncode == 1 and "sync failed" in failed.stderr
    status = json.loads(run_cli(unreachable.config_file, "sync", "status", "--json").stdout)
    assert status["connected"] is False and status["last_error"]


def test_an_unlock_asked_while_the_kiosk_is_unreachable_expires_and_is_not_carried_out(school):
    from kiosk.school.commands import STALE_SECONDS, queue_unlock
    from kiosk.store.models import Command

    k6 = school.kiosk("6k", "6K")
    k6.sync()
    with school.central.session() as session:  # the kiosk is unreachable meanwhile
        [command] = queue_unlock(session, actor="office", reason="parent waiting",
                                 locker_id="6k", now=school.clock())
        session.commit()
        command_id = command.id
    school.clock.advance(STALE_SECONDS + 5)
    k6.sync()  # back: too late to open it now
    with school.central.session() as session:
        command = session.get(Command, command_id)
        assert command.status == "expired" and "offline" in command.result
    with k6.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Command)) == 0
    [expired] = central_events(school, "command_expired")
    assert "kiosk offline" in expired.reason
    assert k6.service.hardware.bays[1].locked
