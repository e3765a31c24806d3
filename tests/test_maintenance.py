"""Backup, restore, retention purge, subject access export and the school-year rollover.

Real SQLite files in tmp_path; the commands are run through click's CliRunner
with ``--config`` pointing at a TOML file, as an administrator would run them.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kiosk.cli import cli, command
from kiosk.cli_ops import register
from kiosk.config import load_config
from kiosk.daemon import build_hardware, register_locker
from kiosk.db import Database
from kiosk.events import Kind, record_event
from kiosk.maintenance import purge, subtract_months
from kiosk.models import (
    Card,
    Command,
    EarlyRelease,
    Event,
    Holding,
    KioskStatus,
    Pupil,
    Year5Approval,
    utcnow,
)
from kiosk.pupils import add_pupil, approve_year5, release_early
from kiosk.service import KioskService

from .conftest import write_config

if "backup" not in cli.commands:  # until kiosk/cli.py registers them itself
    register(cli, command)


# --- helpers ------------------------------------------------------------------------


def invoke(config_file: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, [*args, "--config", str(config_file)], input=input)


def db_path(config) -> Path:
    return Path(config.database.url.removeprefix("sqlite:///"))


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every user table of an SQLite file, row for row, plus the schema."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        result = {name: connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
                  for name in tables}
        result["__schema__"] = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        return result
    finally:
        connection.close()


def integrity(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


def count(db: Database, model) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def make_pupil(session, name, year, class_name, uid=None, **extra):
    pupil = add_pupil(session, name=name, year=year, class_name=class_name, card_uid=uid,
                      actor="test")
    for key, value in extra.items():
        setattr(pupil, key, value)
    session.flush()
    return pupil


# --- month arithmetic ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        ("2025-03-31 12:00", 1, "2025-02-28 12:00"),
        ("2025-03-31 12:00", 13, "2024-02-29 12:00"),  # leap year
        ("2025-01-15 00:00", 13, "2023-12-15 00:00"),  # across a year end
        ("2025-12-31 23:59", 12, "2024-12-31 23:59"),
        ("2024-02-29 08:00", 12, "2023-02-28 08:00"),
    ],
)
def test_subtract_months_is_calendar_months(moment, months, expected):
    assert subtract_months(datetime.fromisoformat(moment), months) == datetime.fromisoformat(
        expected
    )


# --- backup and restore ------------------------------------------------------------------


UIDS = [f"04{index:012X}" for index in range(1, 13)]
UNKNOWN = "04FFFFFFFFFFFF"


def test_backup_during_taps_is_consistent_and_restores_identically(tmp_path, mock_factory):
    config_file = write_config(tmp_path, '[policy]\ncollect_from = "00:00"\n')
    config = load_config(config_file)
    live = db_path(config)
    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    with db.session() as session:
        for index, uid in enumerate(UIDS):
            make_pupil(session, f"Pupil {index}", 6, "6K", uid)
        session.commit()
    # Some history, so the copy takes a moment while the taps keep coming.
    raw = sqlite3.connect(live)
    raw.executemany(
        "INSERT INTO events (at, kind, locker_id, reason, clock_suspect) VALUES (?, ?, ?, ?, 0)",
        [("2026-01-05 08:00:00.000000", "reader_ok", "locker-1", "x" * 200)] * 20000,
    )
    raw.commit()
    raw.close()

    hardware = build_hardware(config, pin_factory=mock_factory)
    service = KioskService(config, db, hardware)
    stop = threading.Event()
    commits: list[float] = []
    errors: list[BaseException] = []

    def taps():
        moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        index = 0
        try:
            while not stop.is_set():
                uid = UNKNOWN if index % 7 == 6 else UIDS[index % len(UIDS)]
                outcome = service.tap(uid, now=moment)  # deposit/collect alternately, or refused
                assert outcome.event_id is not None
                commits.append(time.monotonic())
                index += 1
                moment += timedelta(seconds=90)  # past the debounce and the grace period
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    writer = threading.Thread(target=taps, daemon=True)
    writer.start()
    backups, windows = [], []
    try:
        for number in range(3):
            before = len(commits)
            while len(commits) < before + 20 and writer.is_alive():
                time.sleep(0.005)
            dest = tmp_path / f"backup-{number}.db"
            started = time.monotonic()
            result = invoke(config_file, "backup", str(dest))
            windows.append((started, time.monotonic()))
            assert result.exit_code == 0, result.output
            assert f"backup written to {dest}" in result.output
            assert "integrity check: ok" in result.output
            backups.append((dest, result.output))
        before = len(commits)
        while len(commits) < before + 20 and writer.is_alive():
            time.sleep(0.005)
    finally:
        stop.set()
        writer.join(timeout=10)
        hardware.close()
    assert not errors, errors
    # The taps really were being written while the backups ran.
    assert any(start <= at <= end for at in commits for start, end in windows)

    live_dump = dump(live)
    live_events = {row[0]: row for row in live_dump["events"]}
    for dest, output in backups:
        assert integrity(dest) == ["ok"]
        assert stat.S_IMODE(dest.stat().st_mode) == 0o600
        assert not Path(f"{dest}-wal").exists()
        copy = dump(dest)
        ids = [row[0] for row in copy["events"]]
        top = max(ids)
        # A consistent snapshot: every event up to the newest one, whole rows, nothing after.
        assert ids == list(range(1, top + 1))
        assert copy["events"] == [live_events[i] for i in ids]
        assert 20000 < top < max(live_events)
        assert f"({dest.stat().st_size} bytes)" in output
        assert f"events: {len(ids)} " in output
        # Holdings were committed with their events: they agree in the copy.
        holdings = {row[0]: row for row in copy["holdings"]}
        last_kind: dict[int, str] = {}
        for row in copy["events"]:
            if row[2] in ("deposit", "collect"):
                last_kind[row[3]] = row[2]
        assert last_kind, "the copy holds taps"
        for pupil_id, kind in last_kind.items():
            assert (pupil_id in holdings) == (kind == "deposit")
        for pupil_id, holding in holdings.items():
            event = live_events[holding[4]]
            assert event[2] == "deposit" and event[3] == pupil_id and event[0] <= top

    # Restore the middle backup over the (busier) live database: no kiosk heartbeat.
    source, _ = backups[1]
    events_before_restore = len(live_events)
    db.dispose()
    result = invoke(config_file, "restore", str(source), "--yes")
    assert result.exit_code == 0, result.output
    assert "no fresh kiosk heartbeat" in result.output
    assert dump(live) == dump(source)
    assert integrity(live) == ["ok"]
    kept = list(tmp_path.glob("phonelocker.db.before-restore-*"))
    assert len(kept) == 1 and f"previous database kept at {kept[0]}" in result.output
    assert integrity(kept[0]) == ["ok"]
    assert len(dump(kept[0])["events"]) == events_before_restore
    # The restored database is usable by the application as it is.
    reopened = Database(config.database.url)
    reopened.check()
    with reopened.session() as session:
        record_event(session, Kind.KIOSK_STARTED, locker_id="locker-1")
        session.commit()
    reopened.dispose()


def _heartbeat(db: Database, *, age: float, stopped: bool) -> None:
    with db.session() as session:
        now = utcnow()
        session.merge(KioskStatus(
            locker_id="locker-1", updated_at=now - timedelta(seconds=age), started_at=now,
            stopped_at=now if stopped else None,
        ))
        session.commit()


def test_restore_refuses_while_the_kiosk_heartbeat_is_fresh(config_file, config, db, tmp_path):
    with db.session() as session:
        make_pupil(session, "Amara", 6, "6K", UIDS[0])
        session.commit()
    backup = tmp_path / "before.db"
    assert invoke(config_file, "backup", str(backup)).exit_code == 0
    with db.session() as session:
        make_pupil(session, "Harry", 6, "6K", UIDS[1])
        session.commit()
    _heartbeat(db, age=1, stopped=False)
    before = dump(db_path(config))

    result = invoke(config_file, "restore", str(backup), "--yes")

    assert result.exit_code == 1
    assert "the kiosk is running: locker-1" in result.output
    assert dump(db_path(config)) == before
    assert not list(tmp_path.glob("*.before-restore-*"))


@pytest.mark.parametrize(("age", "stopped"), [(1, True), (3600, False)])
def test_restore_goes_ahead_when_the_kiosk_stopped_or_went_silent(
    config_file, config, db, tmp_path, age, stopped
):
    with db.session() as session:
        make_pupil(session, "Amara", 6, "6K", UIDS[0])
        session.commit()
    backup = tmp_path / "before.db"
    assert invoke(config_file, "backup", str(backup)).exit_code == 0
    with db.session() as session:
        make_pupil(session, "Harry", 6, "6K", UIDS[1])
        session.commit()
    _heartbeat(db, age=age, stopped=stopped)

    declined = invoke(config_file, "restore", str(backup), input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert count(db, Pupil) == 2
    result = invoke(config_file, "restore", str(backup), input="y\n")

    assert result.exit_code == 0, result.output
    assert dump(db_path(config)) == dump(backup)
    assert count(db, Pupil) == 1


def test_restore_rejects_what_is_not_a_sound_phone_locker_backup(config_file, config, db,
                                                                 tmp_path):
    before = dump(db_path(config))
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database at all, just some notes\n" * 10)
    bare = tmp_path / "bare.db"
    connection = sqlite3.connect(bare)
    connection.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    future = tmp_path / "future.db"
    assert invoke(config_file, "backup", str(future)).exit_code == 0
    connection = sqlite3.connect(future)
    connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.commit()
    connection.close()
    cases = {
        tmp_path / "missing.db": "no such file",
        text_file: "not an SQLite database",
        bare: "no alembic_version",
        future: "revision 9999",
    }
    for source, message in cases.items():
        result = invoke(config_file, "restore", str(source), "--yes")
        assert result.exit_code == 1, (source, result.output)
        assert message in result.output
    assert dump(db_path(config)) == before
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_backup_refuses_to_overwrite_without_force_and_other_databases(
    config_file, config, db, tmp_path
):
    with db.session() as session:
        make_pupil(session, "Amara", 6, "6K", UIDS[0])
        session.commit()
    dest = tmp_path / "nightly.db"
    dest.write_bytes(b"an older backup")

    refused = invoke(config_file, "backup", str(dest))
    assert refused.exit_code == 1 and "already exists (use --force" in refused.output
    assert dest.read_bytes() == b"an older backup"

    forced = invoke(config_file, "backup", str(dest), "--force")
    assert forced.exit_code == 0, forced.output
    assert dump(dest) == dump(db_path(config)) and integrity(dest) == ["ok"]

    folder = tmp_path / "backups"
    folder.mkdir()
    into_folder = invoke(config_file, "backup", str(folder))
    assert into_folder.exit_code == 0
    [made] = folder.glob("phonelocker-*.db")
    assert dump(made) == dump(db_path(config))

    over_live = invoke(config_file, "backup", str(db_path(config)), "--force")
    assert over_live.exit_code == 1 and "over the live database" in over_live.output

    (tmp_path / "pg").mkdir()
    postgres = write_config(
        tmp_path / "pg", '[database]\nurl = "postgresql+psycopg://u:p@db.invalid/pl"\n'
    )
    for args in (["backup", str(tmp_path / "pg.db")], ["restore", str(dest), "--yes"]):
        result = invoke(postgres, *args)
        assert result.exit_code == 1
        assert "use pg_dump for PostgreSQL" in result.output


# --- purge ---------------------------------------------------------------------------------


def test_purge_boundaries_with_a_fixed_clock(db):
    now = datetime(2025, 3, 31, 12, 0)
    cutoff = datetime(2024, 2, 29, 12, 0)  # 13 calendar months earlier
    with db.session() as session:
        stays = make_pupil(session, "Stays", 6, "6K", UIDS[0])
        on_boundary = make_pupil(session, "Left on boundary", 6, "6K", UIDS[1], active=False,
                                 left_at=cutoff)
        past = make_pupil(session, "Left before", 6, "6K", UIDS[2], active=False,
                          left_at=cutoff - timedelta(seconds=1))
        no_date = make_pupil(session, "No date", 6, "6K", UIDS[3], active=False)
        session.execute(Event.__table__.delete())  # only the events placed below
        for offset in (-1, 0, 1):
            record_event(session, Kind.DEPOSIT, at=cutoff + timedelta(seconds=offset),
                         pupil_id=stays.id)
        session.commit()
        ids = stays.id, on_boundary.id, past.id, no_date.id

    with db.session() as session:
        dry = purge(session, events_months=13, leavers_months=13, now=now, dry_run=True)
        session.rollback()
    assert (dry.events, dry.pupils, dry.cards, dry.inactive_without_date) == (1, 1, 1, 1)
    assert dry.events_before == dry.leavers_before == cutoff
    assert count(db, Event) == 3 and count(db, Pupil) == 4

    with db.session() as session:
        result = purge(session, events_months=13, leavers_months=13, now=now, actor="admin")
        session.commit()
    assert (result.events, result.pupils, result.cards) == (1, 1, 1)
    with db.session() as session:
        left = sorted(session.scalars(select(Event.at).where(Event.kind == "deposit")))
        assert left == [cutoff, cutoff + timedelta(seconds=1)]  # exactly 13 months is kept
        assert sorted(session.scalars(select(Pupil.id))) == sorted([ids[0], ids[1], ids[3]])


def _purge_school(db: Database):
    """Pupils and history either side of the 13-month retention line (real clock)."""
    now = utcnow()
    line = subtract_months(now, 13)
    with db.session() as session:
        current = make_pupil(session, "Current Pupil", 6, "6K", UIDS[0])
        gone = make_pupil(session, "Gone Leaver", 6, "6K", UIDS[1], active=False,
                          left_at=line - timedelta(days=1))
        recent = make_pupil(session, "Recent Leaver", 6, "6K", UIDS[2], active=False,
                            left_at=line + timedelta(days=1))
        stranded = make_pupil(session, "Stranded Phone", 6, "6K", UIDS[3], active=False,
                              left_at=line - timedelta(days=30))
        session.add(Year5Approval(pupil_id=gone.id, approved_by="Head", approved_at=line))
        session.add(EarlyRelease(pupil_id=gone.id, on_date=line.date(), by="Office",
                                 reason="dentist"))
        session.add(Holding(pupil_id=stranded.id, locker_id="locker-1", bay=1, since=line))
        for pupil in (current, gone, recent):
            record_event(session, Kind.DEPOSIT, at=line - timedelta(days=2), pupil_id=pupil.id,
                         card_uid=pupil.cards[0].uid, locker_id="locker-1", bay=1)
            record_event(session, Kind.COLLECT, at=line + timedelta(days=2), pupil_id=pupil.id,
                         card_uid=pupil.cards[0].uid, locker_id="locker-1", bay=1)
        record_event(session, Kind.CARD_REVOKED, at=line + timedelta(days=3), pupil_id=gone.id,
                     card_uid=UIDS[1], reason=f"replaced by {UIDS[1]}")
        session.add_all([
            Command(kind="enrol", pupil_id=gone.id, actor="office", status="done",
                    card_uid=UIDS[1], result=f"card {UIDS[1]} assigned to Gone Leaver",
                    created_at=now - timedelta(days=2), finished_at=now - timedelta(days=2)),
            Command(kind="unlock", actor="office", reason="stuck", status="done",
                    created_at=now - timedelta(days=31), finished_at=now - timedelta(days=31)),
            Command(kind="unlock", actor="office", reason="stuck", status="done",
                    created_at=now - timedelta(days=29), finished_at=now - timedelta(days=29)),
            Command(kind="unlock", actor="office", reason="queued", status="pending",
                    created_at=now - timedelta(days=60)),
        ])
        session.commit()
        return {p.name: p.id for p in (current, gone, recent, stranded)}, line


def test_purge_removes_exactly_what_is_past_retention(config_file, config, db):
    ids, line = _purge_school(db)
    with db.session() as session:
        old_events = session.scalar(
            select(func.count()).select_from(Event).where(Event.at < line)
        )
        kept_before = {
            "current": [(e.id, e.at, e.card_uid) for e in session.scalars(
                select(Event).where(Event.pupil_id == ids["Current Pupil"], Event.at >= line))],
            "recent_cards": session.scalars(
                select(Card.uid).where(Card.pupil_id == ids["Recent Leaver"])).all(),
        }
        scrubbed = session.scalar(select(func.count()).select_from(Event).where(
            Event.pupil_id == ids["Gone Leaver"], Event.at >= line))
    assert old_events >= 3 and scrubbed >= 4  # added, enrolled, collected, card replaced
    before = dump(db_path(config))

    dry = invoke(config_file, "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would remove {old_events} event(s) older than 13 months" in dry.output
    assert "would remove 1 pupil(s) who left more than 13 months ago" in dry.output
    assert "dry run: nothing was changed" in dry.output
    assert dump(db_path(config)) == before

    result = invoke(config_file, "purge", "--by", "admin")
    assert result.exit_code == 0, result.output
    assert f"removed {old_events} event(s) older than 13 months" in result.output
    assert (
        "removed 1 pupil(s) who left more than 13 months ago "
        f"(before {line:%Y-%m-%d %H:%M} UTC): 1 card(s), 1 approval(s), 1 early release(s); "
        f"{scrubbed} of their later event(s) were anonymised"
    ) in result.output
    assert "removed 2 command(s)" in result.output
    assert f"kept pupil {ids['Stranded Phone']} Stranded Phone" in result.output

    with db.session() as session:
        assert session.get(Pupil, ids["Gone Leaver"]) is None
        assert session.scalar(select(func.count()).select_from(Event).where(Event.at < line)) == 0
        for model in (Card, Year5Approval, EarlyRelease, Command):
            assert not session.scalars(
                select(model).where(model.pupil_id == ids["Gone Leaver"])).all()
        # Their later events stay, with nothing left that points at them.
        anonymous = session.scalars(select(Event).where(
            Event.pupil_id.is_(None), Event.kind != Kind.PURGE.value)).all()
        assert len(anonymous) == scrubbed
        assert all(e.card_uid is None and UIDS[1] not in (e.reason or "") for e in anonymous)
        assert any(e.reason == "replaced by [card]" for e in anonymous)
        # Newer data is untouched.
        assert [(e.id, e.at, e.card_uid) for e in session.scalars(
            select(Event).where(Event.pupil_id == ids["Current Pupil"], Event.at >= line)
        )] == kept_before["current"]
        assert session.get(Pupil, ids["Recent Leaver"]) is not None
        assert session.scalars(
            select(Card.uid).where(Card.pupil_id == ids["Recent Leaver"])
        ).all() == kept_before["recent_cards"]
        assert session.get(Holding, ids["Stranded Phone"]) is not None
        assert sorted(c.status for c in session.scalars(select(Command))) == ["done", "pending"]
        [event] = session.scalars(select(Event).where(Event.kind == Kind.PURGE.value)).all()
        assert event.actor == "admin"
        assert f"events={old_events} pupils=1 cards=1 approvals=1" in event.reason
        assert f"commands=2 scrubbed_events={scrubbed}" in event.reason
        assert "Gone" not in event.reason and "Stranded" not in event.reason
    # The removed pupil's name and card UID are nowhere in the database any more.
    remaining = json.dumps(dump(db_path(config)), default=str)
    assert "Gone Leaver" not in remaining and UIDS[1] not in remaining

    again = invoke(config_file, "purge")
    assert again.exit_code == 0
    assert "removed 0 event(s)" in again.output and "removed 0 pupil(s)" in again.output


# --- export-pupil -------------------------------------------------------------------------------


def test_export_pupil_has_everything_about_them_and_nothing_else(config_file, config, db,
                                                                 tmp_path):
    with db.session() as session:
        amara = make_pupil(session, "Amara Okafor", 5, "5J", UIDS[0], external_id="A100")
        bilal = make_pupil(session, "Bilal Hussain", 5, "5J", UIDS[1], external_id="B200")
        record_event(session, Kind.REFUSED, card_uid=UIDS[0], reason="unknown_card",
                     at=utcnow() - timedelta(days=5))
        for pupil in (amara, bilal):
            approve_year5(session, pupil, by="Mrs Head")
            release_early(session, pupil, by="Office", reason=f"dentist {pupil.name}",
                          on_date=date(2026, 6, 1))
            deposit = record_event(session, Kind.DEPOSIT, pupil_id=pupil.id,
                                   card_uid=pupil.cards[0].uid, locker_id="locker-1", bay=1)
            session.add(Holding(pupil_id=pupil.id, locker_id="locker-1", bay=1,
                                since=deposit.at, event_id=deposit.id))
            session.add(Command(kind="enrol", pupil_id=pupil.id, actor="office",
                                status="done", card_uid=pupil.cards[0].uid))
        session.commit()
        amara_id, bilal_id = amara.id, bilal.id
        amara_events = set(session.scalars(
            select(Event.id).where(
                (Event.pupil_id == amara_id) | (Event.card_uid == UIDS[0]))))
        bilal_events = set(session.scalars(select(Event.id).where(Event.pupil_id == bilal_id)))

    result = invoke(config_file, "export-pupil", str(amara_id))
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)

    assert document["pupil"]["id"] == amara_id
    assert document["pupil"]["name"] == "Amara Okafor"
    assert document["pupil"]["external_id"] == "A100"
    assert [c["uid"] for c in document["cards"]] == [UIDS[0]]
    assert [a["approved_by"] for a in document["year5_approvals"]] == ["Mrs Head"]
    assert [r["reason"] for r in document["early_releases"]] == ["dentist Amara Okafor"]
    assert [h["bay"] for h in document["holdings"]] == [1]
    assert {e["id"] for e in document["events"]} == amara_events
    assert {"pupil_added", "enrol", "approved", "early_release", "deposit", "refused"} <= {
        e["kind"] for e in document["events"]
    }
    assert len(document["commands"]) == 1
    # Times are ISO 8601 with an offset.
    for moment in (document["pupil"]["created_at"], document["cards"][0]["issued_at"],
                   document["events"][0]["at"], document["holdings"][0]["since"]):
        assert datetime.fromisoformat(moment).tzinfo is not None
    assert document["early_releases"][0]["on_date"] == "2026-06-01"
    # Nothing of the other pupil.
    text = result.output
    for secret in ("Bilal", "B200", UIDS[1]):
        assert secret not in text
    assert not bilal_events & {e["id"] for e in document["events"]}
    assert all(e["pupil_id"] in (amara_id, None) for e in document["events"])

    out = tmp_path / "sar.json"
    written = invoke(config_file, "export-pupil", str(amara_id), "--output", str(out))
    assert written.exit_code == 0
    assert json.loads(out.read_text())["events"] == document["events"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    refused = invoke(config_file, "export-pupil", str(amara_id), "--output", str(out))
    assert refused.exit_code == 1 and "already exists" in refused.output
    missing = invoke(config_file, "export-pupil", "999")
    assert missing.exit_code == 1 and "no pupil with id 999" in missing.output


# --- rollover ------------------------------------------------------------------------------------


def _school(db: Database) -> dict[str, int]:
    with db.session() as session:
        reception = make_pupil(session, "Rory Reception", 0, "RB")
        year4 = make_pupil(session, "Fatima Four", 4, "4R")
        approved = make_pupil(session, "Ada Approved", 5, "5J", UIDS[0])
        approve_year5(session, approved, by="Mrs Head")
        expired = make_pupil(session, "Eli Expired", 5, "5J", UIDS[1])
        session.add(Year5Approval(pupil_id=expired.id, approved_by="Mrs Head",
                                  approved_at=utcnow() - timedelta(days=90),
                                  until=date.today() - timedelta(days=30)))
        leaver = make_pupil(session, "Sam Six", 6, "6K", UIDS[2])
        leaver.cards[0].issued_at = utcnow() - timedelta(days=400)
        session.add(Card(uid=UIDS[3], pupil_id=leaver.id, active=False,
                         revoked_at=utcnow() - timedelta(days=100)))
        gone = make_pupil(session, "Olu Old", 6, "6K", active=False,
                          left_at=utcnow() - timedelta(days=300))
        session.commit()
        return {p.name: p.id for p in (reception, year4, approved, expired, leaver, gone)}


def test_rollover_dry_run_shows_everything_and_writes_nothing(config_file, config, db):
    ids = _school(db)
    before = dump(db_path(config))

    result = invoke(config_file, "rollover", "--dry-run", "--by", "Mrs Head")

    assert result.exit_code == 0, result.output
    assert dump(db_path(config)) == before
    out = result.output
    assert "would move up one year: 4 pupil(s)" in out
    assert "Year 0 -> 1: 1" in out and "Year 4 -> 5: 1" in out and "Year 5 -> 6: 2" in out
    for name, years in (("Rory Reception", "0 -> 1"), ("Fatima Four", "4 -> 5"),
                        ("Ada Approved", "5 -> 6"), ("Eli Expired", "5 -> 6")):
        assert f"{ids[name]:>5}  {name}" in out and f"Year {years}" in out
    assert "would leave (Year 6, archived; 1 card(s) revoked): 1 pupil(s)" in out
    assert f"{ids['Sam Six']:>5}  Sam Six  (6K) Year 6" in out
    assert "Olu Old" not in out
    assert "would end Year 5 approvals: 1" in out and "Ada Approved" in out.split(
        "would end Year 5 approvals")[1]
    assert "re-import them from the MIS" in out
    assert "dry run: nothing was changed" in out


def test_rollover_moves_years_archives_leavers_and_ends_approvals(config_file, config, db):
    ids = _school(db)
    with db.session() as session:
        classes = {p.id: p.class_name for p in session.scalars(select(Pupil))}
        gone_before = session.get(Pupil, ids["Olu Old"]).left_at
        expired_approval = session.scalars(
            select(Year5Approval).where(Year5Approval.pupil_id == ids["Eli Expired"])
        ).one()
        started = utcnow()

    result = invoke(config_file, "rollover", "--by", "Mrs Head")

    assert result.exit_code == 0, result.output
    assert "rollover done: 4 moved up, 1 left, 1 card(s) revoked, 1 approval(s) ended" in (
        result.output
    )
    assert "re-import them from the MIS" in result.output
    with db.session() as session:
        pupils = {p.id: p for p in session.scalars(select(Pupil))}
        assert {name: pupils[i].year for name, i in ids.items()} == {
            "Rory Reception": 1, "Fatima Four": 5, "Ada Approved": 6, "Eli Expired": 6,
            "Sam Six": 6, "Olu Old": 6,
        }
        assert {i: p.class_name for i, p in pupils.items()} == classes  # classes untouched
        sam = pupils[ids["Sam Six"]]
        assert sam.active is False and sam.left_at is not None and sam.left_at >= started
        assert all(not c.active and c.revoked_at is not None for c in sam.cards)
        new_card = next(c for c in sam.cards if c.uid == UIDS[2])
        assert new_card.revoked_at >= started
        assert all(p.active for i, p in pupils.items() if i not in (ids["Sam Six"],
                                                                     ids["Olu Old"]))
        assert pupils[ids["Olu Old"]].left_at == gone_before
        ada = session.scalars(
            select(Year5Approval).where(Year5Approval.pupil_id == ids["Ada Approved"])).one()
        assert ada.revoked_at >= started and ada.revoked_by == "Mrs Head"
        eli = session.get(Year5Approval, expired_approval.id)
        assert eli.revoked_at is None  # already expired: left as it was
        [event] = session.scalars(select(Event).where(Event.kind == Kind.ROLLOVER.value)).all()
        assert event.actor == "Mrs Head"
        assert "moved=4" in event.reason and "left=1" in event.reason
        assert "cards_revoked=1 approvals_ended=1" in event.reason
        revoked = session.scalars(select(Event).where(
            Event.kind == Kind.CARD_REVOKED.value, Event.pupil_id == ids["Sam Six"])).all()
        assert [e.card_uid for e in revoked] == [UIDS[2]]

    after = dump(db_path(config))
    again = invoke(config_file, "rollover", "--by", "Mrs Head")
    assert again.exit_code == 1
    assert "a rollover was already done on" in again.output
    assert dump(db_path(config)) == after  # nobody moved up a second year


def test_rollover_refuses_while_phones_are_in_the_locker(config_file, config, db):
    ids = _school(db)
    with db.session() as session:
        session.add(Holding(pupil_id=ids["Sam Six"], locker_id="locker-1", bay=1,
                            since=utcnow()))
        session.commit()
    before = dump(db_path(config))

    dry = invoke(config_file, "rollover", "--dry-run")
    assert dry.exit_code == 1
    assert f"{ids['Sam Six']} Sam Six (Year 6, locker-1 bay 1, leaving)" in dry.output
    refused = invoke(config_file, "rollover", "--by", "Mrs Head")
    assert refused.exit_code == 1
    assert "1 phone(s) still in a locker" in refused.output and "Sam Six" in refused.output
    assert dump(db_path(config)) == before

    forced = invoke(config_file, "rollover", "--by", "Mrs Head", "--force")
    assert forced.exit_code == 0, forced.output
    with db.session() as session:
        sam = session.get(Pupil, ids["Sam Six"])
        assert sam.active is False
        assert session.get(Holding, sam.id) is not None  # the office still sees the phone
        [event] = session.scalars(select(Event).where(Event.kind == Kind.ROLLOVER.value)).all()
        assert "forced past: 1 phone(s) in a locker" in event.reason
