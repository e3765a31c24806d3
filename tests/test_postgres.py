"""The same kiosk on PostgreSQL, for schools with many lockers.

Runs against the server named by ``PHONELOCKER_TEST_POSTGRES_URL`` (a
role allowed to create databases); each test gets a database of its own.
``.ci/run`` starts Debian's PostgreSQL and sets it, so in CI these tests are
mandatory; on a developer machine without it they skip with a message.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from kiosk.config import parse_config
from kiosk.locker.daemon import build_hardware, register_locker
from kiosk.locker.tap import KioskService
from kiosk.policy import Action
from kiosk.school.pupils import add_pupil, get_pupil, release_early
from kiosk.school.queries import pupil_states, query_events
from kiosk.store.db import Database
from kiosk.store.models import Card, Event, Holding

URL = os.environ.get("PHONELOCKER_TEST_POSTGRES_URL")


@pytest.fixture
def pg_url():
    if not URL:
        if os.environ.get("CI"):
            pytest.fail("PHONELOCKER_TEST_POSTGRES_URL is not set: .ci/run should start PostgreSQL")
        pytest.skip("no PostgreSQL: set PHONELOCKER_TEST_POSTGRES_URL to run these tests")
    name = f"pl_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def kiosk(pg_url, mock_factory):
    config = parse_config({
        "database": {"url": pg_url},
        "policy": {"collect_from": "15:15", "grace_seconds": 0, "debounce_seconds": 0},
        "locker": {"unlock_seconds": 0.2},
    })
    db = Database(pg_url)
    db.upgrade()
    db.check()
    register_locker(db, config)
    with db.session() as session:
        amara = add_pupil(session, name="Amara", year=6, class_name="6K",
                          card_uid="04A1B2C3D4E5F6", actor="test")
        add_pupil(session, name="Sam", year=5, class_name="5R", card_uid="1A2B3C4D", actor="test")
        session.commit()
        amara_id = amara.id
    hardware = build_hardware(config, mock_factory)
    clock = {"now": datetime(2026, 11, 30, 8, 40, tzinfo=UTC)}
    service = KioskService(config, db, hardware, clock=lambda: clock["now"])
    yield service, db, config, clock, amara_id
    hardware.close()
    db.dispose()


def test_tap_path_runs_on_postgresql(kiosk, mock_factory):
    service, db, config, clock, amara_id = kiosk
    assert service.tap("04A1B2C3D4E5F6").decision.action is Action.DEPOSIT
    assert mock_factory.pin(17).state is True  # recorded, then opened
    assert service.tap("1A2B3C4D").decision.reason == "year5_not_approved"
    clock["now"] += timedelta(hours=1)
    assert service.tap("04A1B2C3D4E5F6").decision.reason == "too_early"
    with db.session() as session:
        release_early(session, get_pupil(session, amara_id), by="Office", reason="dentist",
                      on_date=clock["now"].date())
        session.commit()
    clock["now"] += timedelta(minutes=5)
    collect = service.tap("04A1B2C3D4E5F6")
    assert collect.decision.action is Action.COLLECT and collect.decision.reason == "early_release"
    with db.session() as session:
        assert session.get(Holding, amara_id) is None
        kinds = [e.kind for e in query_events(session, kinds=["deposit", "refused", "collect"])]
        document = pupil_states(session, config, now=clock["now"])
    assert kinds == ["deposit", "refused", "refused", "collect"]
    amara = next(p for p in document["pupils"] if p["id"] == amara_id)
    assert amara["state"] == "collected"
    assert amara["handed_in_at"].startswith("2026-11-30T08:40")


def test_one_active_card_per_uid_is_enforced_by_postgresql(kiosk):
    _, db, *_ = kiosk
    with db.session() as session:
        pupil_id = session.scalars(select(Card.pupil_id)).first()
        session.add(Card(uid="04A1B2C3D4E5F6", pupil_id=pupil_id, active=True))
        with pytest.raises(IntegrityError):
            session.flush()


def test_event_times_round_trip_as_utc(kiosk):
    service, db, *_ = kiosk
    service.tap("04A1B2C3D4E5F6")
    with db.session() as session:
        deposit = session.scalars(select(Event).where(Event.kind == "deposit")).one()
    assert deposit.at == datetime(2026, 11, 30, 8, 40)


def test_nightly_maintenance_purges_and_skips_the_backup_on_postgresql(kiosk, pg_url, tmp_path):
    from click.testing import CliRunner

    from kiosk.care.retention import subtract_months
    from kiosk.cli.main import cli
    from kiosk.store.events import Kind, record_event

    from .conftest import write_config

    _, db, *_ = kiosk
    with db.session() as session:
        record_event(session, Kind.OVERRIDE, at=subtract_months(datetime.now(UTC), 14),
                     locker_id="locker-1", actor="office", reason="long ago")
        session.commit()
    config_file = write_config(tmp_path, f'[database]\nurl = "{pg_url}"\n')

    result = CliRunner().invoke(cli, ["--config", str(config_file), "maintenance",
                                      "--backup-dir", str(tmp_path / "backups")])

    assert result.exit_code == 0, result.output
    assert "removed 1 event(s) older than 13 months" in result.output
    assert "backup skipped: the database is not SQLite" in result.output
    assert not (tmp_path / "backups").exists()
    with db.session() as session:
        assert session.scalars(select(Event).where(Event.reason == "long ago")).all() == []


def test_events_json_streams_from_postgresql(kiosk, tmp_path, monkeypatch):
    """``events --json`` on PostgreSQL (Core rows, server-side batches) prints what
    json.dumps prints of the events' dicts."""
    import json

    from click.testing import CliRunner

    from kiosk.cli.main import cli
    from kiosk.school import queries
    from kiosk.school.queries import event_dict

    from .conftest import write_config

    service, db, config, _clock, _amara_id = kiosk
    service.tap("04A1B2C3D4E5F6")
    service.tap("1A2B3C4D")
    with db.session() as session:
        expected = [event_dict(e, config) for e in query_events(session)]
    config_file = write_config(tmp_path, f'[database]\nurl = "{config.database.url}"\n')
    monkeypatch.setattr(queries, "STREAM_ROWS", 2)  # several batches
    result = CliRunner().invoke(cli, ["events", "--json", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    assert result.output == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    assert len(expected) > 4
