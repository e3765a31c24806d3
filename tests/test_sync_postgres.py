"""Many lockers, one school, on PostgreSQL: the central database behind a network the test
can cut (tests/tcp_proxy.py), kiosks with their own SQLite connecting as the least-privilege
kiosk role (kiosk/sync/grants.py) over TCP with a password.

Runs against the server named by ``PHONELOCKER_TEST_POSTGRES_URL`` (a role that may create
databases and roles); each test gets a database and a kiosk role of its own. Mandatory in
CI, skipped with a message elsewhere (as tests/test_postgres.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from gpiozero.pins.mock import MockFactory
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from kiosk.config import load_config
from kiosk.locker.daemon import Kiosk as KioskDaemon
from kiosk.school.commands import queue_enrol, queue_unlock
from kiosk.school.pupils import add_pupil, approve_year5, release_early
from kiosk.store.db import Database
from kiosk.store.events import Kind, record_event
from kiosk.store.models import Card, Command, Event, Holding, KioskStatus, Pupil
from kiosk.sync import state
from kiosk.sync.grants import PRIVATE_TABLES, grant_statements
from kiosk.sync.join import JoinNeedsAttention, join
from kiosk.timeutil import naive_utc
from tests.conftest import run_cli, write_config
from tests.sync_helpers import Clock, School, morning, pg_central
from tests.tcp_proxy import TcpProxy

URL = os.environ.get("PHONELOCKER_TEST_POSTGRES_URL")
AMARA, SAM, BEN = "04A1B2C3D4E5F6", "1A2B3C4D", "04B1B2C3D4E5F6"
NEWCARD = "04C0FFEE"
TAPS = ("deposit", "collect")


@pytest.fixture
def pg():
    if not URL:
        if os.environ.get("CI"):
            pytest.fail("PHONELOCKER_TEST_POSTGRES_URL is not set: .ci/run should start PostgreSQL")
        pytest.skip("no PostgreSQL: set PHONELOCKER_TEST_POSTGRES_URL to run these tests")
    with pg_central(URL) as central:
        yield central


@pytest.fixture
def proxy():
    made = TcpProxy(("127.0.0.1", 5432))
    yield made
    made.close()


def seed(central: Database, classes: dict[str, int]) -> dict[str, list[str]]:
    """``count`` Year 6 pupils per class, each with a card; returns class -> card uids."""
    cards: dict[str, list[str]] = {}
    with central.session() as session:
        for code, (class_name, count) in enumerate(classes.items()):
            for n in range(count):
                uid = f"04{code:02X}{n:010X}"
                add_pupil(session, name=f"Pupil {class_name}-{n}", year=6, class_name=class_name,
                          card_uid=uid, actor="office", external_id=f"UPN-{class_name}-{n}")
                cards.setdefault(class_name, []).append(uid)
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                  actor="office", external_id="UPN1")
        add_pupil(session, name="Sam Year5", year=5, class_name="5R", card_uid=SAM,
                  actor="office", external_id="UPN5")
        session.commit()
    return cards


@pytest.fixture
def school(pg, proxy, tmp_path):
    central = Database(pg.admin_url)
    made = School(tmp_path, pg.kiosk_url(proxy.port), central, Clock(morning()))
    made.cards = seed(central, {"6K": 40, "6R": 40})
    yield made
    made.close()


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it is truthy; fail saying ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def local_events(kiosk) -> list[Event]:
    with kiosk.db.session() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def central_rows(school, locker_id: str | None = None) -> list[Event]:
    with school.central.session() as session:
        query = select(Event).order_by(Event.id)
        if locker_id:
            query = query.where(Event.locker_id == locker_id)
        return list(session.scalars(query))


def sent_count(school, kiosk) -> int:
    """How many of this kiosk's events the central database has."""
    uids = [e.uid for e in local_events(kiosk) if e.uid]
    with school.central.session() as session:
        return session.scalar(select(func.count()).where(Event.uid.in_(uids))) if uids else 0


def fact(event: Event) -> tuple:
    """What an event says, without its ids (to find the same event stored twice)."""
    return (event.kind, event.at, event.card_uid, event.pupil_id, event.bay, event.reason)


def assert_exactly_once_in_order(school, kiosk) -> None:
    """Every local event is central once (by uid and by content), in local order."""
    mine = local_events(kiosk)
    assert mine and all(e.uid for e in mine), "every event sent has its uid"
    central = {e.uid: e for e in central_rows(school) if e.uid}
    missing = [e.id for e in mine if e.uid not in central]
    assert not missing, f"{len(missing)} event(s) never reached the central database"
    with school.central.session() as session:
        with_uid, distinct = session.execute(
            select(func.count(Event.uid), func.count(func.distinct(Event.uid)))
        ).one()
    assert with_uid == distinct
    locker = kiosk.config.locker.id
    theirs = [e for e in central_rows(school, locker)
              if e.actor is None or not e.actor.startswith("sync (")]
    assert Counter(fact(e) for e in theirs) == Counter(fact(e) for e in mine), \
        "the central database holds this locker's events once each, nothing else"
    central_ids = [central[e.uid].id for e in mine]
    assert central_ids == sorted(central_ids), "central ids increase with local ids"
    with kiosk.db.engine.connect() as local:
        assert state.read_int(local, state.SENT_EVENT_ID) == mine[-1].id


def assert_holdings_agree(school, kiosks) -> None:
    """Each pupil's last deposit/collect centrally says whether the central database holds
    their phone, and in which locker; and each kiosk holds what the central says it holds."""
    with school.central.session() as session:
        last: dict[int, Event] = {}
        for event in session.scalars(
            select(Event).where(Event.kind.in_(TAPS), Event.pupil_id.is_not(None))
            .order_by(Event.at, Event.id)
        ):
            last[event.pupil_id] = event
        held = {h.pupil_id: h.locker_id for h in session.scalars(select(Holding))}
    expected = {pid: e.locker_id for pid, e in last.items() if e.kind == "deposit"}
    assert held == expected
    assert len(expected) > 5 and len(last) - len(expected) > 5, "both states are exercised"
    for kiosk in kiosks:
        locker = kiosk.config.locker.id
        with kiosk.db.session() as session:
            here = {h.pupil_id for h in session.scalars(
                select(Holding).where(Holding.locker_id == locker))}
        assert here == {pid for pid, where in held.items() if where == locker}


# --- 1. the proxy itself -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_the_proxy_forwards_and_its_cut_ends_the_link(pg, proxy, mode):
    engine = create_engine(pg.kiosk_url(proxy.port), pool_pre_ping=False,
                           connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT current_user")).scalar() == pg.role
            proxy.cut(mode)
            with pytest.raises(DBAPIError):
                connection.execute(text("SELECT 1"))
        started = time.monotonic()
        with pytest.raises(DBAPIError), engine.connect():
            pass
        assert time.monotonic() - started < 30  # bounded by connect_timeout at worst
        proxy.restore()
        engine.dispose()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    assert proxy.connections == 2


# --- 2. 500 taps with the network cut ---------------------------------------------------


def test_500_taps_across_two_kiosks_while_cut_arrive_exactly_once_in_order(school, proxy):
    extra = "poll_seconds = 0.2\n"
    kiosks = [school.kiosk("6k", "6K", extra=extra), school.kiosk("6r", "6R", extra=extra)]
    cards = [school.cards["6K"], school.cards["6R"]]
    for kiosk in kiosks:
        kiosk.worker.start()
    wait_until(lambda: all(k.worker.report().connected for k in kiosks), 30, "both connected")
    rng = random.Random(500)
    outcomes = Counter()

    def taps(count: int) -> None:
        for _ in range(count):
            which = rng.randrange(2)
            school.clock.advance(60)
            outcomes[kiosks[which].tap(rng.choice(cards[which])).decision.action.value] += 1

    taps(100)
    wait_until(lambda: all(sent_count(school, k) == len(local_events(k)) for k in kiosks),
               30, "the first 100 taps to arrive")
    proxy.cut()
    wait_until(lambda: not any(k.worker.report().connected for k in kiosks), 30,
               "both kiosks to notice the cut")
    before = len(central_rows(school))
    taps(300)
    time.sleep(1.0)  # the workers keep trying meanwhile
    assert len(central_rows(school)) == before, "nothing reached the central database while cut"
    reports = [k.worker.report() for k in kiosks]
    assert not any(r.connected for r in reports)
    assert all(r.last_error for r in reports)
    proxy.restore()
    taps(100)
    wait_until(lambda: all(k.worker.report().connected and k.worker.report().pending_events == 0
                           and sent_count(school, k) == len(local_events(k)) for k in kiosks),
               60, "every tap to arrive after the restore")
    for kiosk in kiosks:
        kiosk.worker.stop()
    assert sum(outcomes.values()) == 500
    assert outcomes["deposit"] > 20 and outcomes["collect"] > 20
    taps_central = [e for e in central_rows(school)
                    if e.kind in ("deposit", "collect", "refused", "reopen")]
    assert len(taps_central) == 500
    for kiosk in kiosks:
        assert_exactly_once_in_order(school, kiosk)
        back = [e for e in central_rows(school, kiosk.config.locker.id)
                if e.kind == Kind.SYNC_BACK_ONLINE.value]
        assert len(back) == 1
    assert_holdings_agree(school, kiosks)


# --- 3. SIGKILL during sync ---------------------------------------------------------------


def add_events(db: Database, count: int, locker_id: str, clock: Clock) -> None:
    """``count`` events recorded at the kiosk (what a morning of taps leaves pending)."""
    with db.session() as session:
        for _ in range(count):
            clock.advance(1)
            record_event(session, Kind.OVERRIDE, at=naive_utc(clock()), locker_id=locker_id,
                         actor="test", reason="pending for the sync")
        session.commit()


def counts(kiosk, central: Database) -> tuple[int, int, int, int]:
    """(newest local event id, the sent cursor, the test's events centrally, the test's
    events up to the cursor): cheap SQL, for each round."""
    with kiosk.db.engine.connect() as local:
        cursor = state.read_int(local, state.SENT_EVENT_ID)
        newest = local.execute(select(func.max(Event.id))).scalar() or 0
        confirmed = local.execute(select(func.count()).where(
            Event.id <= cursor, Event.actor == "test")).scalar_one()
    with central.engine.connect() as connection:
        there = connection.execute(select(func.count()).where(
            Event.locker_id == kiosk.config.locker.id, Event.actor == "test")).scalar_one()
    return newest, cursor, there, confirmed


@pytest.mark.slow
def test_sigkill_at_random_moments_during_sync_loses_and_doubles_nothing(pg, tmp_path):
    """A kiosk process running the real sync loop is SIGKILLed 100 times at random moments
    while events wait; after a clean sync every event is central once and both sides are
    sound. The children are forked from a forkserver that has imported the kiosk already,
    so each is a fresh process with its own connections in a few milliseconds. The kill
    delays are drawn from a window that starts at how long one child took to send here and
    follows what the kills hit (so a busy machine still kills mid-sync, not always before)."""
    central = Database(pg.admin_url)
    school = School(tmp_path, pg.kiosk_url(), central, Clock(morning()))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.sync_helpers", "kiosk.sync.worker", "psycopg",
                                    "sqlalchemy.dialects.postgresql.psycopg"])
    from tests.sync_helpers import sync_forever

    def child():
        process = context.Process(target=sync_forever, args=(str(kiosk.config_file),))
        process.start()
        return process

    def kill(process) -> None:
        process.kill()  # SIGKILL
        process.join(10)
        assert process.exitcode == -9

    try:
        kiosk = school.kiosk("6k", "6K", extra="poll_seconds = 0.1\n")
        # calibrate: one child, not killed until it has sent 100 events
        add_events(kiosk.db, 100, "6k", school.clock)
        process, started = child(), time.monotonic()
        wait_until(lambda: counts(kiosk, central)[2] == 100, 60, "a first sync")
        one_sync = time.monotonic() - started
        kill(process)
        add_events(kiosk.db, 3000, "6k", school.clock)  # a morning's backlog
        rng = random.Random(100)
        window = 1.2 * one_sync
        interrupted = progressed = resent = 0
        began = time.monotonic()
        for _ in range(100):
            add_events(kiosk.db, rng.randrange(20, 120), "6k", school.clock)
            before = counts(kiosk, central)[2]
            process = child()
            time.sleep(rng.uniform(0.0, window))
            kill(process)
            newest, cursor, there, confirmed = counts(kiosk, central)
            interrupted += cursor < newest
            progressed += there > before
            # keep the kills around the moment of sending, however busy the machine:
            # a round that sent nothing widens the window, one that sent narrows it
            window = window * 0.85 if there > before else min(window * 1.25, 5.0)
            resent += there > confirmed  # killed after the central commit, before the cursor
        elapsed = time.monotonic() - began
        # the kills landed both before and after events were sent, not all in one place
        assert interrupted >= 10 and progressed >= 10, (interrupted, progressed, resent, elapsed)
        kiosk.sync()  # the final clean sync
        with kiosk.db.engine.connect() as local:
            assert local.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert_exactly_once_in_order(school, kiosk)
        with central.engine.connect() as connection:
            valid = connection.execute(text(
                "SELECT i.indisvalid AND i.indisunique FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'uq_events_uid'"
            )).scalar()
            assert valid is True
            duplicates = connection.execute(text(
                "SELECT count(*) FROM (SELECT uid FROM events WHERE uid IS NOT NULL "
                "GROUP BY uid HAVING count(*) > 1) d"
            )).scalar()
            assert duplicates == 0
    finally:
        school.close()


def test_a_crash_after_the_central_commit_resends_and_stores_nothing_twice(school, monkeypatch):
    """The one moment a SIGKILL rarely hits: the central transaction committed, the local
    cursor not yet moved. The next cycle sends the same events again (same uids)."""
    from kiosk.sync import up

    kiosk = school.kiosk("6k", "6K")
    kiosk.sync()
    add_events(kiosk.db, 300, "6k", school.clock)
    real_confirm = up.confirm

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the cursor moved")

    monkeypatch.setattr(up, "confirm", crash)
    assert isinstance(kiosk.try_sync(), RuntimeError)
    assert sent_count(school, kiosk) == 300  # committed centrally ...
    with kiosk.db.engine.connect() as local:
        assert state.read_int(local, state.SENT_EVENT_ID) < local_events(kiosk)[-1].id
    monkeypatch.setattr(up, "confirm", real_confirm)
    assert kiosk.try_sync() is None  # ... and sent again
    kiosk.sync()
    assert_exactly_once_in_order(school, kiosk)


# --- 4. PostgreSQL "restarted" during a catch-up ------------------------------------------


def terminate_kiosk_backends(pg) -> int:
    engine = create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return len(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"
            ), {"role": pg.role}).all())
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["terminate", "refuse", "blackhole"])
def test_a_catch_up_interrupted_by_the_server_resumes_by_itself_exactly_once(school, proxy,
                                                                            pg, how):
    """10,000 queued events (five central transactions) going up when the kiosk's backend
    is terminated (what a PostgreSQL restart does to it) or the network is cut; the shared
    cluster itself is never restarted."""
    kiosk = school.kiosk("6k", "6K", extra="poll_seconds = 0.2\n")
    kiosk.sync()
    add_events(kiosk.db, 10_000, "6k", school.clock)
    total = len(local_events(kiosk))
    kiosk.worker.start()
    wait_until(lambda: sent_count(school, kiosk) > 0, 60, "the catch-up to start")
    if how == "terminate":
        assert terminate_kiosk_backends(pg) >= 1
    else:
        proxy.cut(how)
    assert sent_count(school, kiosk) < total, "interrupted while still catching up"
    wait_until(lambda: not kiosk.worker.report().connected, 30, "the kiosk to notice")
    assert kiosk.worker.report().last_error
    if how != "terminate":
        time.sleep(0.5)
        proxy.restore()
    wait_until(lambda: kiosk.worker.report().connected
               and kiosk.worker.report().pending_events == 0
               and sent_count(school, kiosk) == len(local_events(kiosk)), 90,
               "the catch-up to finish by itself")
    kiosk.worker.stop()
    assert_exactly_once_in_order(school, kiosk)
    back = [e for e in central_rows(school, "6k") if e.kind == Kind.SYNC_BACK_ONLINE.value]
    assert len(back) == 1


# --- 5. the office's decisions made while a kiosk is offline ------------------------------


def test_a_release_and_an_approval_made_while_offline_take_effect_at_reconnect(school, proxy):
    kiosk = school.kiosk("6k", "6K")
    kiosk.sync()
    assert kiosk.tap(AMARA).decision.action.value == "deposit"
    assert kiosk.tap(SAM).decision.reason == "year5_not_approved"
    kiosk.sync()
    proxy.cut()
    assert isinstance(kiosk.try_sync(), DBAPIError)
    today = school.clock().astimezone(kiosk.config.policy.zone).date()
    with school.central.session() as session:
        amara = session.scalars(select(Pupil).where(Pupil.external_id == "UPN1")).one()
        sam = session.scalars(select(Pupil).where(Pupil.external_id == "UPN5")).one()
        release_early(session, amara, by="Office", reason="dentist", on_date=today,
                      now=school.clock())
        approve_year5(session, sam, by="Head", now=school.clock(), today=today)
        session.commit()
    school.clock.advance(80 * 60)  # 10:00, still before 15:15
    assert kiosk.tap(AMARA).decision.reason == "too_early"  # it cannot know yet
    assert kiosk.tap(SAM).decision.reason == "year5_not_approved"
    assert isinstance(kiosk.try_sync(), DBAPIError)
    proxy.restore()
    assert kiosk.try_sync() is None
    school.clock.advance(120)
    collect = kiosk.tap(AMARA).decision
    assert (collect.action.value, collect.reason) == ("collect", "early_release")
    assert kiosk.tap(SAM).decision.action.value == "deposit"
    kiosk.sync()
    assert school.clock().astimezone(kiosk.config.policy.zone).hour < 15
    with school.central.session() as session:
        assert [h.pupil_id for h in session.scalars(select(Holding))] == [sam.id]


# --- 6. the kiosk role's grants ------------------------------------------------------------


def insufficient_privilege(url: str, table: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f"SELECT * FROM {table} LIMIT 1"))
    except DBAPIError as error:
        return type(error.orig).__name__ == "InsufficientPrivilege"
    finally:
        engine.dispose()
    return False


def test_the_kiosk_role_does_a_kiosks_whole_job_and_reads_no_staff_data(pg, tmp_path):
    central = Database(pg.admin_url)
    clock = Clock(morning())
    try:
        with central.session() as session:
            add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA,
                      actor="office", external_id="UPN1")
            session.commit()
        config_file = write_config(
            tmp_path,
            '[locker]\nid = "6k"\nname = "6K"\nunlock_seconds = 0.2\n'
            "[[locker.bays]]\nnumber = 1\nlock_pin = 17\ndoor_pin = 27\n"
            f'[policy]\ncollect_from = "15:15"\n[central]\nurl = "{pg.kiosk_url()}"\n',
        )
        config = load_config(config_file)
        local = Database(config.database.url)
        local.upgrade()
        # a standalone locker before: Amara (matched by UPN) with a second card, and Zed,
        # whom the central roll lacks, with a Year 5 approval
        with local.session() as session:
            add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid="04FF0001",
                      actor="office", external_id="UPN1")
            zed = add_pupil(session, name="Zed Local", year=5, class_name="5K",
                            card_uid="04FF0002", actor="office")
            approve_year5(session, zed, by="Head", now=clock(),
                          today=clock().date())
            session.commit()
        factory = MockFactory()
        daemon = KioskDaemon(config, local, pin_factory=factory, clock=clock)
        try:
            from kiosk.locker.daemon import register_locker

            register_locker(local, config)
            # The kiosks' role may not add to the roll: the worker says how to join, and
            # writes nothing; the join then runs once through the dashboard's role.
            with pytest.raises(JoinNeedsAttention, match="sync join --url"):
                daemon.sync.cycle()
            with central.session() as session:
                assert list(session.scalars(select(Pupil.name))) == ["Amara Okafor"]
            with central.engine.connect() as admin:
                assert join(admin, local, config, now=clock().replace(tzinfo=None)).joined
            daemon.sync._failed(RuntimeError("retry"))  # as the thread's loop does
            daemon.sync.cycle()  # joined: register, roll down
            with central.session() as session:
                names = sorted(session.scalars(select(Pupil.name)))
                assert names == ["Amara Okafor", "Zed Local"]
                ben = add_pupil(session, name="Ben Ward", year=6, class_name="6K",
                                card_uid=BEN, actor="office", external_id="UPN2")
                session.commit()
                ben_id = ben.id
            daemon.sync.cycle()
            assert daemon.service.tap(BEN).decision.action.value == "deposit"  # roll down
            # the office asks for an unlock and an enrolment; the kiosk claims and does them
            with central.session() as session:
                unlock = queue_unlock(session, actor="office", reason="fire drill",
                                      locker_id="6k", seconds=0.2, now=clock())[0]
                enrol = queue_enrol(session, pupil_id=ben_id, actor="office", locker_id="6k",
                                    now=clock())
                session.commit()
                ids = [unlock.id, enrol.id]
            daemon.sync.cycle()
            with central.session() as session:
                assert {c.status for c in session.scalars(
                    select(Command).where(Command.id.in_(ids)))} == {"running"}
            daemon.poll_commands()
            clock.advance(5)
            assert daemon.service.tap(NEWCARD).decision.reason == "enrol"
            daemon.poll_commands()
            daemon.sync.cycle()
            daemon.sync.cycle()
        finally:
            daemon.sync.stop()
            daemon.hardware.close()
            factory.close()
        with central.session() as session:
            commands = {c.id: c for c in session.scalars(select(Command))}
            assert commands[unlock.id].status == "done"
            assert commands[enrol.id].status == "done"
            assert commands[enrol.id].card_uid == NEWCARD
            new_card = session.scalars(select(Card).where(Card.uid == NEWCARD)).one()
            assert new_card.pupil_id == ben_id and new_card.active
            kinds = Counter(session.scalars(select(Event.kind).where(Event.locker_id == "6k")))
        assert kinds["deposit"] == 1 and kinds["enrol"] == 1
        assert {"staff_users", "web_sessions", "notices"} <= set(PRIVATE_TABLES)
        for table in PRIVATE_TABLES:
            assert insufficient_privilege(pg.kiosk_url(), table), table
        local.dispose()
    finally:
        central.dispose()


def test_phonelocker_sync_grants_prints_what_the_test_database_was_given(pg, tmp_path):
    config_file = write_config(tmp_path)
    printed = run_cli(config_file, "sync", "grants", pg.role).stdout
    assert printed.splitlines() == [f"{line};" for line in grant_statements(pg.role)]
    assert f"GRANT SELECT, INSERT ON events TO {pg.role};" in printed
    assert not any(table in printed for table in PRIVATE_TABLES)
    bad = run_cli(config_file, "sync", "grants", "kiosk; DROP TABLE x", check=False)
    assert bad.returncode == 2 and "not a plain PostgreSQL role name" in bad.stderr


# --- 7. sync status through the real CLI --------------------------------------------------


def sync_status(config_file) -> dict:
    return json.loads(run_cli(config_file, "sync", "status", "--json").stdout)


def test_sync_status_json_reports_a_cut_and_a_restore(school, proxy, pg):
    kiosk = school.kiosk("6k", "6K")
    kiosk.sync()
    document = sync_status(kiosk.config_file)
    assert document["connected"] is True and document["last_error"] is None
    assert pg.password not in json.dumps(document)
    assert document["central"].startswith(f"postgresql+psycopg://{pg.role}:***@127.0.0.1:")
    assert document["pending_events"] == 0
    proxy.cut()
    school.clock.advance(5)
    kiosk.tap(AMARA)
    kiosk.tap(school.cards["6K"][0])
    document = sync_status(kiosk.config_file)
    assert document["connected"] is False
    assert document["last_error"]
    assert document["pending_events"] == 2 and document["taps_waiting"] == 2
    assert pg.password not in json.dumps(document)
    assert set(document) >= {"central", "connected", "pending_events", "last_sync", "last_error"}
    assert isinstance(kiosk.try_sync(), DBAPIError)
    proxy.restore()
    assert kiosk.try_sync() is None
    kiosk.sync()  # the "back online" event the first one recorded
    document = sync_status(kiosk.config_file)
    assert document["connected"] is True and document["last_error"] is None
    assert document["pending_events"] == 0


@pytest.mark.slow
def test_sync_status_json_of_a_running_kiosk_through_a_cut(school, proxy, pg, tmp_path):
    """The kiosk process's own worker, as its heartbeat reports it to ``sync status``."""
    from kiosk.devtools.kiosk_process import KioskProcess

    directory = tmp_path / "running"
    directory.mkdir()
    config_file = write_config(
        directory,
        '[locker]\nid = "6k"\nname = "6K"\nunlock_seconds = 0.2\n'
        '[policy]\ncollect_from = "15:15"\n[web]\noffline_after_seconds = 6\n'
        f'[central]\nurl = "{pg.kiosk_url(proxy.port)}"\npoll_seconds = 0.2\n',
    )
    run_cli(config_file, "db", "upgrade")

    def status_until(check: Callable[[dict], bool], what: str) -> dict:
        found: list[dict] = []

        def probe() -> bool:
            found[:] = [sync_status(config_file)]
            return check(found[0])

        wait_until(probe, 60, f"sync status: {what} (last: {found})")
        return found[0]

    with KioskProcess(config_file):
        document = status_until(lambda d: d["connected"] and d["kiosk_running"]
                                and d["pending_events"] == 0, "connected")
        assert document["last_sync"] is not None and document["last_error"] is None
        assert pg.password not in json.dumps(document)
        run_cli(config_file, "tap", AMARA)  # the roll came down: Amara is known here
        status_until(lambda d: d["pending_events"] == 0, "the deposit sent")
        proxy.cut()
        run_cli(config_file, "tap", school.cards["6K"][0])
        run_cli(config_file, "tap", school.cards["6K"][1])
        document = status_until(lambda d: not d["connected"] and d["taps_waiting"] == 2,
                                "offline with two taps waiting")
        assert document["kiosk_running"] is True
        assert document["last_error"] and document["pending_events"] >= 2
        assert document["offline_since"] is not None
        assert "2 taps waiting" in document["message"]
        assert pg.password not in json.dumps(document)
        proxy.restore()
        document = status_until(lambda d: d["connected"] and d["pending_events"] == 0,
                                "back, nothing waiting")
        assert document["last_error"] is None
    deposits = [e for e in central_rows(school, "6k") if e.kind == "deposit"]
    assert len(deposits) == 3


# --- the SQLite school's cases (tests/test_sync.py) on PostgreSQL, as the kiosk role ------


@pytest.fixture
def sqlite_school_on_pg(pg, proxy, tmp_path):
    """tests/test_sync.py's school (Amara in 6K, Ben in 6R), central on PostgreSQL."""
    from tests.test_sync import AMARA as AMARA_CARD
    from tests.test_sync import BEN as BEN_CARD

    central = Database(pg.admin_url)
    with central.session() as session:
        add_pupil(session, name="Amara Okafor", year=6, class_name="6K", card_uid=AMARA_CARD,
                  actor="office", external_id="UPN1")
        add_pupil(session, name="Ben Ward", year=6, class_name="6R", card_uid=BEN_CARD,
                  actor="office", external_id="UPN2")
        session.commit()
    made = School(tmp_path, pg.kiosk_url(proxy.port), central, Clock(morning()))
    yield made
    made.close()


@pytest.mark.parametrize("case", [
    "test_a_tap_reaches_the_central_database_once_with_its_holding",
    "test_a_phone_in_another_locker_is_not_handed_in_twice",
    "test_a_change_made_centrally_reaches_the_kiosk_at_its_next_cycle",
    "test_the_office_hand_back_recorded_centrally_ends_the_holding_at_the_kiosk",
    "test_a_card_cancelled_centrally_but_used_offline_is_flagged",
])
def test_the_sqlite_school_cases_hold_on_postgresql(case, sqlite_school_on_pg, tmp_path):
    """The cross-locker rule, the conflict flag and the office's hand-back, with the central
    database on PostgreSQL and the kiosks connecting as the kiosk role (the join, which
    needs the dashboard's role, is in the kiosk-role test above)."""
    import inspect

    from tests import test_sync

    function = getattr(test_sync, case)
    arguments = {"school": sqlite_school_on_pg, "tmp_path": tmp_path}
    function(**{name: arguments[name] for name in inspect.signature(function).parameters})


# --- sync status and the heartbeat row, on SQLite (runs everywhere) -----------------------


def test_sync_status_uses_a_running_kiosks_heartbeat_and_probes_when_it_stopped(tmp_path):
    """The kiosk_status row the heartbeat writes is what ``sync status`` reports while it is
    fresh; once the kiosk stopped, the command reaches the central database itself."""
    from tests.conftest import real_now

    central_url = f"sqlite:///{tmp_path / 'central.db'}"
    central = Database(central_url)
    central.upgrade()
    school = School(tmp_path, central_url, central, Clock(morning()))
    try:
        kiosk = school.kiosk("6k", "6K")
        kiosk.sync()
        beat = naive_utc(real_now())  # the CLI compares with its own (real) clock
        with kiosk.db.session() as session:
            session.add(KioskStatus(locker_id="6k", updated_at=beat, started_at=beat,
                                    last_sync_at=beat - timedelta(minutes=3),
                                    offline_since=beat - timedelta(minutes=2),
                                    sync_error="the network is cut", pending_events=4))
            session.commit()
        document = sync_status(kiosk.config_file)
        assert document["kiosk_running"] is True
        assert (document["connected"], document["last_error"]) == (False, "the network is cut")
        assert document["offline_since"] is not None and document["last_sync"] is not None
        with kiosk.db.session() as session:
            session.get(KioskStatus, "6k").stopped_at = beat
            session.commit()
        document = sync_status(kiosk.config_file)
        assert document["kiosk_running"] is False
        assert (document["connected"], document["last_error"]) == (True, None)  # probed
    finally:
        school.close()
