"""``phonelocker bench sync``: a kiosk and the school's central database, measured.

On a central SQLite file in a temporary folder by default, or ``--url`` (an
empty database, e.g. PostgreSQL), it prints (never asserts: shared machines
are noisy, read the medians and ratios):

1. **tap -> visible**: a real ``phonelocker kiosk`` process (emulated udp reader,
   mock pins, its threaded sync worker) is shown a card by nfcpy's virtual card
   (:func:`hardware.virtual_card.present_card`, as ``phonelocker tap`` does); the
   time until the event row is in the central database, p50/p95. It includes
   the reader sensing the card, so it is what a person watching the dashboard
   waits for.
2. **central change -> kiosk**: a card revoked, or an early release added, on the
   central database; the time until the kiosk's own SQLite has it, p50/p95.
3. **kiosk RSS** with sync on, and **idle CPU** of that connected kiosk; both
   also for the same kiosk without ``[central]``, since the target is what
   the sync adds to the CPU.
4. **catch-up**: 10,000 events queued in a kiosk's database (written in bulk,
   as if recorded offline) sent by the real :class:`~kiosk.sync.worker.SyncWorker`;
   the time until the central database has every one (checked).
5. **the tap path** (``KioskService.tap`` to the lock pin, over a bare sqlite
   insert + commit, interleaved: :mod:`kiosk.devtools.bench`'s method) with the
   sync worker running beside it and the central database reachable,
   unreachable (a closed port), and absent (no ``[central]``).

Everything local lives in a temporary folder that is removed afterwards; the
kiosk is always stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from kiosk.devtools import probes
from kiosk.devtools.bench_report import aligned, machine_line
from kiosk.devtools.emulated_config import emulated_locker_toml
from kiosk.devtools.kiosk_process import KioskProcess
from kiosk.devtools.measure import machine_info, percentile
from kiosk.devtools.ports import free_port
from kiosk.errors import ActionError

Echo = Callable[[str], Any]
TARGETS = {
    "tap_visible": "p95 ≤ 2 s",
    "change_kiosk": "p95 ≤ 2 s",
    "catch_up": "≤ 30 s",
    "ratio": "≤ 2",
    "rss": "≤ 60 MB",
    "idle_cpu": "adds ≤ 1 %",
}
KIOSK_ID = "bench-sync"
CATCH_UP_ID = "bench-catchup"
TAP_PUPILS, CATCH_UP_PUPILS = 8, 20
#: how long one wait (a tap, a change, the kiosk's first sync) may take before it counts as lost
WAIT_S = 30.0
POLL_S = 0.005
#: after the kiosk's first sync, let start-up work settle before counting idle CPU
IDLE_SETTLE_S = 1.0
RATIO_WARMUP = 20



class BenchError(RuntimeError):
    """Something the bench waited for never happened."""


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``check`` every few ms until it returns something true; that value."""
    deadline = time.perf_counter() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.perf_counter() > deadline:
            raise BenchError(f"not within {timeout:g} s: {what}")
        time.sleep(POLL_S)


def _card(n: int, group: int) -> str:
    return f"04{group:02X}{n:010X}"


# --- the central database ---------------------------------------------------------------


def roll_size(changes: int, pupils: int) -> int:
    """Pupils (each with a card) on the central roll: the bench's own, or ``pupils``."""
    return max(pupils, TAP_PUPILS + 2 * changes + CATCH_UP_PUPILS)


def prepare_central(url: str, changes: int, pupils: int) -> None:
    """Migrate an empty central database and add a roll of ``pupils`` with cards.

    The change -> kiosk figure depends on the roll's size (a changed table is
    read whole and compared), so the default is a whole school's.
    """
    from sqlalchemy import inspect

    from kiosk.school.pupils import add_pupil
    from kiosk.store.db import Database

    central = Database(url)
    try:
        if inspect(central.engine).get_table_names():
            raise ActionError(f"{central.engine.url.render_as_string(hide_password=True)} is "
                              "not empty: give bench sync an empty database")
        central.upgrade()
        with central.session() as session:
            filler = roll_size(changes, pupils) - TAP_PUPILS - 2 * changes - CATCH_UP_PUPILS
            for group, class_name, count in ((1, "6T", TAP_PUPILS), (2, "6X", 2 * changes),
                                             (3, "6C", CATCH_UP_PUPILS), (4, "5F", filler)):
                for n in range(count):
                    add_pupil(session, name=f"Sync {class_name} Pupil {n}", year=6,
                              class_name=class_name, card_uid=_card(n, group), actor="bench")
            session.commit()
    finally:
        central.dispose()


# --- 1 to 3: a real kiosk process -------------------------------------------------------


def write_kiosk(folder: Path, central_url: str | None, name: str = "kiosk") -> Path:
    """``folder/NAME.toml`` (syncing with ``central_url``, if given) and its migrated
    local database ``folder/kiosk.db``."""
    from kiosk.config import load_config
    from kiosk.store.db import Database

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    text = emulated_locker_toml(
        header="phonelocker bench sync's kiosk", database_url=f"sqlite:///{folder / 'kiosk.db'}",
        udp_port=free_port(socket.SOCK_DGRAM),
        locker={"id": KIOSK_ID, "name": "Bench sync locker", "unlock_seconds": 0.3},
        policy={"grace_seconds": 0, "debounce_seconds": 0, "collect_from": "00:00"},
        extra={"central": {"url": central_url}} if central_url is not None else None)
    path.write_text(text, encoding="utf-8")
    db = Database(load_config(path).database.url)
    try:
        db.upgrade()
    finally:
        db.dispose()
    return path


def _figures(samples: list[float]) -> dict[str, Any]:
    return {"n": len(samples), "p50_s": statistics.median(samples),
            "p95_s": percentile(samples, 95), "max_s": max(samples)}


def tap_to_visible(config_path: Path, central, local, taps: int) -> dict[str, Any]:
    """Present ``taps`` cards to the kiosk's reader; seconds until each event is recorded
    in the kiosk's own database and until it is in the central one."""
    from sqlalchemy import func, select

    from hardware.virtual_card import present_card
    from kiosk.config import load_config
    from kiosk.store.models import Event

    device = load_config(config_path).reader.device
    central_s, local_s = [], []
    for n in range(taps):
        uid = _card(n % TAP_PUPILS, 1)
        after = {}
        for name, engine in (("central", central), ("local", local)):
            with engine.connect() as connection:
                after[name] = connection.execute(select(func.max(Event.id))).scalar() or 0
        holder = threading.Thread(target=present_card, args=(uid,),
                                  kwargs={"hold": 0.2, "path": device, "timeout": 10.0},
                                  daemon=True)
        started = time.perf_counter()
        holder.start()
        seen: dict[str, float] = {}

        def has(name: str, uid=uid, after=after) -> bool:
            engine = central if name == "central" else local
            with engine.connect() as connection:
                return connection.execute(
                    select(Event.id).where(Event.id > after[name], Event.card_uid == uid)
                    .limit(1)
                ).first() is not None

        def visible(has=has, seen=seen, started=started) -> bool:
            if "local" not in seen and has("local"):
                seen["local"] = time.perf_counter() - started
            return has("central")

        wait_until(visible, f"the tap of {uid} in the central database")
        central_s.append(time.perf_counter() - started)
        local_s.append(seen.get("local", central_s[-1]))
        holder.join(15)
        time.sleep(0.3)  # the card is lifted, the bay relocks: the next tap is a new one
    return {**_figures(central_s), "local": _figures(local_s)}


def change_to_kiosk(central_db, local, changes: int) -> dict[str, Any]:
    """Revoke a card / add an early release centrally; seconds until the kiosk has it."""
    from sqlalchemy import select

    from kiosk.school.pupils import get_pupil, release_early, revoke_card
    from kiosk.store.models import Card, EarlyRelease, Pupil
    from kiosk.timeutil import aware_utc_now

    samples = []
    for n in range(changes):
        uid = _card(n, 2)
        with central_db.session() as session:
            if n % 2 == 0:
                revoke_card(session, uid, actor="bench", reason="bench")
                done = select(Card.id).where(Card.uid == uid, Card.active.is_(False))
            else:
                pupil_id = session.scalar(select(Card.pupil_id).where(Card.uid == uid))
                pupil = get_pupil(session, pupil_id)
                today = aware_utc_now().date()
                release_early(session, pupil, by="bench", reason="bench", on_date=today)
                done = (select(EarlyRelease.id).join(Pupil, Pupil.id == EarlyRelease.pupil_id)
                        .where(Pupil.name == pupil.name))
            session.commit()
        started = time.perf_counter()

        def arrived(done=done) -> bool:
            with local.connect() as connection:
                return connection.execute(done.limit(1)).first() is not None

        wait_until(arrived, f"change {n} in the kiosk's database")
        samples.append(time.perf_counter() - started)
    return _figures(samples)


def bench_kiosk(workdir: Path, central_url: str, *, taps: int, changes: int, pupils: int,
                idle_seconds: float, progress: Echo) -> dict[str, Any]:
    """Figures 1 to 3 from one real kiosk process syncing with ``central_url``."""
    from sqlalchemy import func, select

    from kiosk.store.db import Database, make_engine
    from kiosk.store.models import Card

    config_path = write_kiosk(workdir / "kiosk", central_url)
    central = make_engine(central_url)
    local = make_engine(f"sqlite:///{workdir / 'kiosk' / 'kiosk.db'}")
    kiosk = KioskProcess(config_path, log_path=workdir / "kiosk" / "kiosk.log")
    central_db = Database(central_url)
    try:
        kiosk.start(timeout=WAIT_S)
        wanted = roll_size(changes, pupils)

        def roll_arrived() -> bool:
            with local.connect() as connection:
                return connection.execute(select(func.count()).select_from(Card)).scalar() \
                    >= wanted

        wait_until(roll_arrived, "the roll in the kiosk's database")
        time.sleep(IDLE_SETTLE_S)
        progress(f"idle connected kiosk: {idle_seconds:g} s ...")
        idle = measure_idle(kiosk, idle_seconds)
        progress(f"tap -> visible: {taps} taps at the kiosk's reader ...")
        visible = tap_to_visible(config_path, central, local, taps)
        progress(f"central change -> kiosk: {changes} changes ...")
        arrived = change_to_kiosk(central_db, local, changes)
        memory = probes.memory_mb(kiosk.pid)
    finally:
        if kiosk.process is not None and kiosk.exit_code is None:
            kiosk.stop(timeout=10)
        kiosk.close()
        central_db.dispose()
        central.dispose()
        local.dispose()
    return {"tap_visible": visible, "change_kiosk": arrived, "idle": idle, "memory": memory,
            "kiosk_exit_code": kiosk.exit_code}


def measure_idle(kiosk: KioskProcess, seconds: float) -> dict[str, float]:
    """CPU share of one core over ``seconds``, and RSS after, of a running kiosk."""
    cpu_before, started = probes.cpu_seconds(kiosk.pid), time.monotonic()
    time.sleep(seconds)
    cpu = probes.cpu_seconds(kiosk.pid) - cpu_before
    elapsed = time.monotonic() - started
    return {"seconds": elapsed, "cpu_seconds": cpu, "cpu_percent": 100 * cpu / elapsed,
            "rss_mb": probes.memory_mb(kiosk.pid)["rss_mb"]}


def standalone_idle(workdir: Path, seconds: float) -> dict[str, float]:
    """:func:`measure_idle` of the same kiosk (its database as sync left it) with no
    ``[central]``: what the sync adds is the difference."""
    alone = write_kiosk(workdir / "kiosk", None, name="standalone")
    kiosk = KioskProcess(alone, log_path=workdir / "kiosk" / "standalone.log")
    try:
        kiosk.start(timeout=WAIT_S)
        time.sleep(IDLE_SETTLE_S)
        return measure_idle(kiosk, seconds)
    finally:
        if kiosk.process is not None and kiosk.exit_code is None:
            kiosk.stop(timeout=10)
        kiosk.close()


# --- 4. catch-up --------------------------------------------------------------------


def bench_catch_up(workdir: Path, central_url: str, events: int) -> dict[str, Any]:
    """Queue ``events`` in a kiosk's database, then time the worker sending them all."""
    from sqlalchemy import func, select

    from kiosk.config import parse_config
    from kiosk.locker.daemon import register_locker
    from kiosk.store.db import Database
    from kiosk.store.events import INSERT_EVENT_TYPES, INSERT_EVENTS_SQL, event_values
    from kiosk.store.models import Card, Event, Pupil
    from kiosk.store.prepared import run_many
    from kiosk.sync.worker import SyncWorker
    from kiosk.timeutil import aware_utc_now, naive_utc

    folder = workdir / "catch-up"
    folder.mkdir()
    config = parse_config({
        "database": {"url": f"sqlite:///{folder / 'kiosk.db'}"},
        "gpio": {"pin_factory": "mock"},
        "locker": {"id": CATCH_UP_ID, "name": "Bench catch-up locker"},
        "central": {"url": central_url},
    })
    db = Database(config.database.url)
    central = Database(central_url)
    worker = SyncWorker(config, db)
    try:
        db.upgrade()
        register_locker(db, config)
        worker.cycle()  # joined, and the roll is here: the kiosk as it was when the link went
        with db.session() as session:
            cards = session.execute(
                select(Pupil.id, Card.uid).join(Card, Card.pupil_id == Pupil.id)
                .where(Pupil.class_name == "6C", Card.active).order_by(Pupil.id)
            ).all()
        if not cards:
            raise BenchError("the catch-up kiosk received no pupils from the central database")
        start = naive_utc(aware_utc_now()) - timedelta(seconds=events + 60)
        rows = []
        for n in range(events):
            pupil_id, uid = cards[n % len(cards)]
            kind = "deposit" if (n // len(cards)) % 2 == 0 else "collect"
            rows.append(event_values(kind, at=start + timedelta(seconds=n), pupil_id=pupil_id,
                                     card_uid=uid, locker_id=CATCH_UP_ID, bay=1))
        with db.session() as session:
            run_many(session, INSERT_EVENTS_SQL, INSERT_EVENT_TYPES, rows)
            session.commit()
        started = time.perf_counter()
        cycles = 0
        while True:
            worker.cycle()
            cycles += 1
            if worker.report().pending_events == 0 or cycles >= 100:
                break
        seconds = time.perf_counter() - started
        with central.session() as session:
            arrived = session.scalar(
                select(func.count()).select_from(Event).where(
                    Event.locker_id == CATCH_UP_ID, Event.kind.in_(("deposit", "collect"))))
    finally:
        worker.stop()
        db.dispose()
        central.dispose()
    return {"events": events, "seconds": seconds, "cycles": cycles,
            "events_per_s": events / seconds if seconds else 0.0,
            "arrived": arrived, "all_arrived": arrived == events}


# --- 5. the tap path beside the worker ------------------------------------------------------


def tap_ratio(workdir: Path, central_url: str | None, taps: int, *,
              reachable: bool = False) -> dict[str, Any]:
    """The tap path over a bare sqlite commit, with a sync worker for ``central_url`` running."""
    from kiosk.devtools.bench import open_bare_sqlite, time_bare_insert, time_tap
    from kiosk.devtools.bench_rig import build_tap_rig
    from kiosk.sync.worker import SyncWorker

    workdir.mkdir()
    quiet = logging.getLogger("kiosk.sync.worker")
    level = quiet.level
    if not reachable:
        quiet.setLevel(logging.ERROR)  # "central database: connection failed" is the point
    rig = build_tap_rig(workdir, central_url=central_url)
    bare = open_bare_sqlite(workdir / "bare.db")
    worker = SyncWorker(rig.service.config, rig.db) if central_url else None
    tap_ns: list[int] = []
    bare_ns: list[int] = []
    try:
        if worker is not None:
            worker.start()
            if reachable:  # measure the steady state, not the join
                wait_until(lambda: worker.report().connected, "the worker's first sync")
        for n in range(RATIO_WARMUP + taps):
            timing = time_tap(rig, rig.uids[n % len(rig.uids)])
            bare_elapsed = time_bare_insert(bare, n)
            if n >= RATIO_WARMUP:
                tap_ns.append(timing.to_energised_ns)
                bare_ns.append(bare_elapsed)
        report = worker.report() if worker is not None else None
    finally:
        if worker is not None:
            worker.stop()
        bare.close()
        rig.close()
        quiet.setLevel(level)
    tap_p50 = statistics.median(tap_ns) / 1e6
    bare_p50 = statistics.median(bare_ns) / 1e6
    return {"taps": taps, "tap_p50_ms": tap_p50,
            "tap_p95_ms": percentile([t / 1e6 for t in tap_ns], 95),
            "bare_p50_ms": bare_p50, "ratio_p50": tap_p50 / bare_p50,
            "worker_connected": report.connected if report else None,
            "worker_error": report.last_error if report else None}


# --- all of it -------------------------------------------------------------------------


def unreachable_url() -> str:
    """A PostgreSQL URL to a local port nobody listens on."""
    return f"postgresql+psycopg://bench@127.0.0.1:{free_port()}/bench"


def format_report(result: dict[str, Any]) -> str:
    """The figures as a table: what, measured, target."""
    kiosk, catch_up, ratios = result["kiosk"], result["catch_up"], result["ratio"]

    def p(figures: dict[str, Any]) -> str:
        return (f"p50 {figures['p50_s']:.2f} / p95 {figures['p95_s']:.2f} s "
                f"(max {figures['max_s']:.2f}, n={figures['n']})")

    rows = [
        ("what", "measured", "target"),
        ("tap -> visible on the central database", p(kiosk["tap_visible"]),
         TARGETS["tap_visible"]),
        ("  of which tap -> kiosk's own database", p(kiosk["tap_visible"]["local"]),
         "(the reader sensing the card)"),
        ("central change -> kiosk's database", p(kiosk["change_kiosk"]),
         TARGETS["change_kiosk"]),
        (f"catch-up of {catch_up['events']:,} queued events",
         f"{catch_up['seconds']:.1f} s ({catch_up['events_per_s']:,.0f} events/s, "
         f"{catch_up['arrived']:,} arrived, {catch_up['cycles']} cycle(s))", TARGETS["catch_up"]),
    ]
    for key, label in (("reachable", "central reachable"), ("unreachable", "central unreachable"),
                       ("absent", "no [central]")):
        figures = ratios[key]
        versus = figures["tap_p50_ms"] / ratios["absent"]["tap_p50_ms"]
        rows.append((f"tap path ratio, {label}",
                     f"{figures['ratio_p50']:.2f} (tap p50 {figures['tap_p50_ms']:.2f} ms, "
                     f"bare {figures['bare_p50_ms']:.2f} ms; {versus:.2f}x no [central])",
                     TARGETS["ratio"]))
    rows += [
        ("kiosk RSS with sync on", f"{kiosk['memory']['rss_mb']:.1f} MB after the taps "
         f"(peak {kiosk['memory']['peak_rss_mb']:.1f}), {kiosk['idle']['rss_mb']:.1f} idle",
         TARGETS["rss"]),
        ("  the same kiosk without [central]", f"{result['standalone']['rss_mb']:.1f} MB idle",
         "(for comparison)"),
        (f"idle connected kiosk CPU over {kiosk['idle']['seconds']:.0f} s",
         f"{kiosk['idle']['cpu_percent']:.2f} % (without [central] "
         f"{result['standalone']['cpu_percent']:.2f} %: sync adds "
         f"{kiosk['idle']['cpu_percent'] - result['standalone']['cpu_percent']:.2f})",
         TARGETS["idle_cpu"]),
    ]
    lines = [f"central database: {result['central']}, {result['pupils']:,} pupils with cards",
             "", *aligned(rows), "", machine_line(result)]
    return "\n".join(lines)


def run_sync_benchmarks(*, url: str | None = None, taps: int = 40, changes: int = 20,
                        pupils: int = 2000, catch_up: int = 10_000, ratio_taps: int = 500,
                        idle_seconds: float = 10.0, as_json: bool = False,
                        echo: Echo = print) -> dict[str, Any]:
    """Run every figure, print the table (or JSON), return the figures."""
    from kiosk.sync.central import display_url

    probes.require()  # before minutes of measuring, not after
    progress: Echo = (lambda _text: None) if as_json else echo
    result: dict[str, Any] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="phonelocker-bench-sync-") as tmp:
        root = Path(tmp)
        central_url = url or f"sqlite:///{root / 'central.db'}"
        result["central"] = display_url(central_url)
        progress(f"central database {result['central']}: migrating and adding pupils ...")
        prepare_central(central_url, changes, pupils)
        result["pupils"] = roll_size(changes, pupils)
        result["kiosk"] = bench_kiosk(root, central_url, taps=taps, changes=changes,
                                      pupils=pupils, idle_seconds=idle_seconds, progress=progress)
        progress(f"the same kiosk without [central], idle: {idle_seconds:g} s ...")
        result["standalone"] = standalone_idle(root, idle_seconds)
        progress(f"catch-up: {catch_up:,} queued events ...")
        result["catch_up"] = bench_catch_up(root, central_url, catch_up)
        result["ratio"] = {}
        for key, target, reachable in (("reachable", central_url, True),
                                       ("unreachable", unreachable_url(), False),
                                       ("absent", None, False)):
            progress(f"tap path, central {key}: {ratio_taps} taps ...")
            result["ratio"][key] = tap_ratio(root / f"ratio-{key}", target, ratio_taps,
                                             reachable=reachable)
    result["load"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    result["targets"] = dict(TARGETS)
    if as_json:
        echo(json.dumps(result, indent=2, default=str))
    else:
        echo("")
        echo(format_report(result))
    return result
