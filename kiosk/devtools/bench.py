"""``phonelocker bench``: measure the kiosk on the machine it runs on.

Four figures, printed (never asserted: shared machines are noisy, so read the
medians and the ratios):

1. **Tap path.** From the reader reporting a UID (``KioskService.tap(uid)``,
   called exactly as the reader thread calls it) to the lock pin energised,
   the event having been committed first (SQLite, WAL, ``synchronous=FULL``).
   The moment the pin goes high is stamped by the mock pin itself; the time
   until ``tap()`` returns (which also starts the LED and buzzer) is shown too.
   Beside it, the same machine's cost of one bare ``sqlite3`` insert + commit
   with the same durability, interleaved tap by tap so both see the same
   noise: the ratio is the software's cost over the unavoidable fsync.
2. **Idle CPU and memory** of a real ``phonelocker kiosk`` process on the
   emulated reader (udp) and gpiozero's mock pins.
3. **Start-to-ready**: spawning ``phonelocker kiosk`` until it sends systemd
   ``READY=1`` on ``$NOTIFY_SOCKET`` (and, for information, SIGTERM to exit).
4. A table with the targets, and the machine it ran on.

Everything lives in a temporary directory that is removed afterwards, and
every child process is stopped (SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.devtools import probes
from kiosk.devtools.bench_report import TARGETS, format_table, verdicts
from kiosk.devtools.bench_rig import TapRig, build_tap_rig, upgrade_database, write_kiosk_config
from kiosk.devtools.kiosk_process import KioskProcess
from kiosk.devtools.measure import machine_info, summarise_ms

WARMUP_TAPS = 20
READY_RUNS = 5
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
#: after READY=1, let start-up work settle before counting idle CPU
IDLE_SETTLE_S = 0.5

Echo = Callable[[str], Any]


# --- 1. the tap path -------------------------------------------------------------------


@dataclass(frozen=True)
class TapTiming:
    """One tap, in nanoseconds from just before ``service.tap(uid)``."""

    to_energised_ns: int  # the lock pin went high: the bay opens
    to_return_ns: int  # tap() returned, having also started the LED and buzzer
    synchronous: bool  # the pin was already energised when tap() returned
    action: str


def time_tap(rig: TapRig, uid: str) -> TapTiming:
    """Tap ``uid`` as the reader thread does and time it to the lock pin; relock after."""
    for bay in rig.hardware.bays.values():
        bay.lock.pin.energised_ns = None
    start = time.perf_counter_ns()
    outcome = rig.service.tap(uid)
    returned = time.perf_counter_ns()
    number = outcome.decision.bay
    if not outcome.decision.opens_lock or number is None:
        raise RuntimeError(f"bench tap of {uid} did not open a bay: {outcome.summary}")
    bay = rig.hardware.bays[number]
    synchronous = bool(bay.lock.value) and bay.lock.pin.energised_ns is not None
    deadline = time.monotonic() + 5
    while bay.lock.pin.energised_ns is None:  # only if unlocking ever becomes asynchronous
        if time.monotonic() > deadline:
            raise RuntimeError(f"bay {number}: the lock pin was never energised")
        time.sleep(0)
    energised = bay.lock.pin.energised_ns
    bay.relock()  # off the clock, so relock timers never pile up
    return TapTiming(energised - start, returned - start, synchronous,
                     str(outcome.decision.action))


def open_bare_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the kiosk's durability: WAL and synchronous=FULL."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, at TEXT, kind TEXT, uid TEXT)"
    )
    connection.commit()
    return connection


def time_bare_insert(connection: sqlite3.Connection, n: int) -> int:
    """Nanoseconds for one insert + commit."""
    start = time.perf_counter_ns()
    connection.execute(
        "INSERT INTO t (at, kind, uid) VALUES (?, ?, ?)", (f"{n}", "deposit", "04BE0000000001")
    )
    connection.commit()
    return time.perf_counter_ns() - start


def count_tap_events(db) -> int:
    """Deposit and collect events committed (read back in a new session)."""
    from sqlalchemy import func, select

    from kiosk.store.models import Event

    with db.session() as session:
        return session.scalar(
            select(func.count()).select_from(Event).where(Event.kind.in_(("deposit", "collect")))
        )


def bench_taps(workdir: Path, taps: int, warmup: int = WARMUP_TAPS) -> dict[str, Any]:
    """Time ``taps`` taps (after ``warmup``), interleaved with bare sqlite insert+commits."""
    rig = build_tap_rig(workdir)
    bare = open_bare_sqlite(workdir / "bare.db")
    timings: list[TapTiming] = []
    bare_ns: list[int] = []
    try:
        for n in range(warmup + taps):
            timing = time_tap(rig, rig.uids[n % len(rig.uids)])
            bare_elapsed = time_bare_insert(bare, n)
            if n >= warmup:
                timings.append(timing)
                bare_ns.append(bare_elapsed)
        committed = count_tap_events(rig.db)
    finally:
        bare.close()
        rig.close()
    tap = summarise_ms([t.to_energised_ns for t in timings])
    returned = summarise_ms([t.to_return_ns for t in timings])
    bare_figures = summarise_ms(bare_ns)
    return {
        "tap": {
            "taps": taps, "warmup": warmup, "pupils": len(rig.uids), **tap,
            "synchronous_unlock": all(t.synchronous for t in timings),
            "actions": dict(Counter(t.action for t in timings)),
            "events_committed": committed,
        },
        "tap_return": returned,
        "bare_sqlite": {"iterations": taps, **bare_figures},
        "ratio": {
            "p50": tap["p50_ms"] / bare_figures["p50_ms"],
            "p99": tap["p99_ms"] / bare_figures["p99_ms"],
        },
    }


# --- 2 and 3. the kiosk process ---------------------------------------------------------


@contextmanager
def running_kiosk(config_path: Path, workdir: Path, run: int) -> Iterator[KioskProcess]:
    """Start ``phonelocker --config CFG kiosk``, wait for READY=1; always stop it on exit."""
    kiosk = KioskProcess(config_path, log_path=workdir / f"kiosk-{run}.log")
    try:
        kiosk.start(timeout=READY_TIMEOUT_S)
        yield kiosk
    finally:
        if kiosk.process is not None and kiosk.exit_code is None:
            kiosk.stop(timeout=STOP_TIMEOUT_S)
        kiosk.close()


def bench_idle(config_path: Path, workdir: Path, idle_seconds: float) -> dict[str, Any]:
    """CPU share of one core and memory of an idle kiosk over ``idle_seconds``."""
    with running_kiosk(config_path, workdir, run=0) as child:
        pid = child.pid
        time.sleep(IDLE_SETTLE_S)
        cpu_before, started = probes.cpu_seconds(pid), time.monotonic()
        time.sleep(idle_seconds)
        cpu_after, elapsed = probes.cpu_seconds(pid), time.monotonic() - started
        memory = probes.memory_mb(pid)
    cpu_seconds = cpu_after - cpu_before
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu_seconds,
        "cpu_percent": 100 * cpu_seconds / elapsed,
        **memory,
        "pid": pid,
        "exit_code": child.exit_code,
    }


def bench_ready(config_path: Path, workdir: Path, runs: int = READY_RUNS) -> dict[str, Any]:
    """Spawn-to-READY=1 time of ``runs`` kiosk starts, each then stopped with SIGTERM."""
    children: list[KioskProcess] = []
    for run in range(1, runs + 1):
        with running_kiosk(config_path, workdir, run) as child:
            children.append(child)
    samples = [child.ready_s for child in children]
    return {
        "runs": runs,
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "samples_s": samples,
        "stop_median_s": statistics.median(child.stop_s for child in children),
        "exit_codes": [child.exit_code for child in children],
        "pids": [child.pid for child in children],
    }


# --- 4. all of it ---------------------------------------------------------------------


def run_benchmarks(
    *, taps: int = 1000, idle_seconds: float = 30.0, as_json: bool = False, echo: Echo = print
) -> dict[str, Any]:
    """Run every benchmark, print the figures (a table, or JSON) and return them."""
    probes.require()  # before minutes of measuring, not after
    progress: Echo = (lambda _text: None) if as_json else echo
    result: dict[str, Any] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="phonelocker-bench-") as tmp:
        root = Path(tmp)
        (root / "taps").mkdir()
        (root / "kiosk").mkdir()
        progress(f"tap path: {taps} taps ...")
        result.update(bench_taps(root / "taps", taps))
        config_path = write_kiosk_config(root / "kiosk")
        upgrade_database(config_path)
        progress(f"start-to-ready: {READY_RUNS} kiosk starts ...")
        result["ready"] = bench_ready(config_path, root / "kiosk")
        progress(f"idle kiosk: {idle_seconds:g} s ...")
        result["idle"] = bench_idle(config_path, root / "kiosk", idle_seconds)
    result["targets"] = dict(TARGETS)
    result["meets"] = verdicts(result)
    if as_json:
        echo(json.dumps(result, indent=2))
    else:
        echo("")
        echo(format_table(result))
    return result
