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
import math
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WARMUP_TAPS = 20
PUPILS = 8
READY_RUNS = 5
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
#: after READY=1, let start-up work settle before counting idle CPU
IDLE_SETTLE_S = 0.5
#: long enough never to fire during a run: each tap is relocked by hand, off the clock
BENCH_UNLOCK_SECONDS = 60.0

TARGETS: dict[str, float] = {
    "ratio_p50": 2.0,
    "tap_p99_ms": 10.0,
    "idle_cpu_percent": 1.0,
    "rss_mb": 60.0,
    "ready_median_s": 1.5,
}

Echo = Callable[[str], Any]


# --- small helpers ----------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise_ms(samples_ns: list[int]) -> dict[str, float]:
    """p50/p90/p99/max/mean in milliseconds from nanosecond samples."""
    ms = [s / 1e6 for s in samples_ns]
    return {
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "mean_ms": statistics.fmean(ms),
    }


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (x86 ``model name``, Raspberry Pi ``Model``)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        nproc = os.cpu_count() or 1
    return {
        "arch": platform.machine(),
        "cpu": cpu_model(),
        "nproc": nproc,
        "python": platform.python_version(),
        "system": platform.platform(),
    }


# --- 1. the tap path -------------------------------------------------------------------


@dataclass
class TapRig:
    """A kiosk service on a real SQLite file and mock pins, with pupils to tap."""

    service: Any  # KioskService
    hardware: Any  # LockerHardware
    db: Any  # Database
    uids: list[str]

    def close(self) -> None:
        self.hardware.close()
        self.db.dispose()


@dataclass(frozen=True)
class TapTiming:
    """One tap, in nanoseconds from just before ``service.tap(uid)``."""

    to_energised_ns: int  # the lock pin went high: the bay opens
    to_return_ns: int  # tap() returned, having also started the LED and buzzer
    synchronous: bool  # the pin was already energised when tap() returned
    action: str


def tap_config(workdir: Path):
    """A one-bay locker where every tap changes state: no grace, no debounce, collect any time."""
    from kiosk.config import parse_config

    return parse_config({
        "database": {"url": f"sqlite:///{workdir / 'taps.db'}"},
        "gpio": {"pin_factory": "mock"},
        "locker": {"id": "bench", "name": "Bench locker", "unlock_seconds": BENCH_UNLOCK_SECONDS},
        "policy": {"grace_seconds": 0, "debounce_seconds": 0, "collect_from": "00:00"},
    })


def stamping_pin_class() -> type:
    """A gpiozero ``MockPin`` that notes the ``perf_counter_ns`` at which it goes high."""
    from gpiozero.pins.mock import MockPin

    class StampingMockPin(MockPin):
        energised_ns: int | None = None

        def _change_state(self, value):
            changed = super()._change_state(value)
            if changed and value:
                self.energised_ns = time.perf_counter_ns()
            return changed

    return StampingMockPin


def build_tap_rig(workdir: Path, pupils: int = PUPILS) -> TapRig:
    """Create the database, the locker, ``pupils`` Year 6 pupils with cards, and the service."""
    from gpiozero.pins.mock import MockFactory

    from kiosk.locker.daemon import build_hardware, register_locker
    from kiosk.locker.tap import KioskService
    from kiosk.school.pupils import add_pupil
    from kiosk.store.db import Database

    config = tap_config(workdir)
    db = Database(config.database.url)
    db.upgrade()
    register_locker(db, config)
    uids = [f"04BE{n:010X}" for n in range(1, pupils + 1)]  # 7-byte UIDs
    with db.session() as session:
        for n, uid in enumerate(uids, start=1):
            add_pupil(session, name=f"Bench Pupil {n}", year=6, class_name="6B",
                      actor="bench", card_uid=uid)
        session.commit()
    hardware = build_hardware(config, pin_factory=MockFactory(pin_class=stamping_pin_class()))
    hardware.close_doors_if_emulated()
    return TapRig(KioskService(config, db, hardware), hardware, db, uids)


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


def phonelocker_command() -> list[str]:
    """The ``phonelocker`` console script beside this Python, else ``python -m kiosk.cli.main``."""
    script = Path(sys.executable).with_name("phonelocker")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kiosk.cli.main"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_kiosk_config(workdir: Path) -> Path:
    """An emulated kiosk config (udp reader, mock pins, SQLite in ``workdir``)."""
    path = workdir / "kiosk.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{workdir / "kiosk.store.db"}"\n\n'
        f'[reader]\ndevice = "udp:127.0.0.1:{free_udp_port()}"\n\n'
        '[gpio]\npin_factory = "mock"\n\n'
        '[locker]\nid = "bench"\nname = "Bench locker"\n',
        encoding="utf-8",
    )
    return path


def upgrade_database(config_path: Path) -> None:
    """``phonelocker --config CFG db upgrade``."""
    result = subprocess.run(
        [*phonelocker_command(), "--config", str(config_path), "db", "upgrade"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"db upgrade failed ({result.returncode}): {result.stderr.strip()}")


def child_env(notify_socket: Path) -> dict[str, str]:
    """Our environment, minus systemd's watchdog, with our own ``NOTIFY_SOCKET``."""
    drop = ("WATCHDOG_USEC", "WATCHDOG_PID", "PHONELOCKER_CONFIG")
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["NOTIFY_SOCKET"] = str(notify_socket)
    return env


@dataclass
class KioskChild:
    """A running ``phonelocker kiosk``: how long it took to say READY=1, and to stop."""

    process: subprocess.Popen
    log: Path
    ready_s: float = 0.0
    stop_s: float = 0.0
    exit_code: int | None = None


def tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(sock: socket.socket, process: subprocess.Popen, log: Path) -> None:
    """Block until ``READY=1`` arrives on ``sock``; fail if the child dies or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    sock.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            message = sock.recv(4096).decode(errors="replace")
        except TimeoutError:
            if process.poll() is not None:
                raise RuntimeError(
                    f"kiosk exited with {process.returncode} before READY=1: {tail(log)}"
                ) from None
            continue
        if "READY=1" in message.split("\n"):
            return
    raise RuntimeError(f"kiosk not ready after {READY_TIMEOUT_S:g} s: {tail(log)}")


def stop_child(process: subprocess.Popen) -> int:
    """SIGTERM, wait; SIGKILL if it will not go. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


@contextmanager
def running_kiosk(config_path: Path, workdir: Path, run: int) -> Iterator[KioskChild]:
    """Start ``phonelocker --config CFG kiosk``, wait for READY=1; always stop it on exit."""
    notify_path = workdir / f"notify-{run}.sock"
    log = workdir / f"kiosk-{run}.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, log.open("wb") as log_file:
        sock.bind(str(notify_path))
        start = time.perf_counter()
        process = subprocess.Popen(
            [*phonelocker_command(), "--config", str(config_path), "kiosk"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            env=child_env(notify_path),
        )
        child = KioskChild(process, log)
        try:
            wait_ready(sock, process, log)
            child.ready_s = time.perf_counter() - start
            yield child
        finally:
            stopping = time.perf_counter()
            child.exit_code = stop_child(process)
            child.stop_s = time.perf_counter() - stopping


def proc_cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of the whole line


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of ``pid`` in MB (MiB), from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return {"rss_mb": values["VmRSS"], "peak_rss_mb": values["VmHWM"]}


def bench_idle(config_path: Path, workdir: Path, idle_seconds: float) -> dict[str, Any]:
    """CPU share of one core and memory of an idle kiosk over ``idle_seconds``."""
    tick = os.sysconf("SC_CLK_TCK")
    with running_kiosk(config_path, workdir, run=0) as child:
        pid = child.process.pid
        time.sleep(IDLE_SETTLE_S)
        ticks_before, started = proc_cpu_ticks(pid), time.monotonic()
        time.sleep(idle_seconds)
        ticks_after, elapsed = proc_cpu_ticks(pid), time.monotonic() - started
        memory = proc_memory_mb(pid)
    cpu_seconds = (ticks_after - ticks_before) / tick
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
    children: list[KioskChild] = []
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
        "pids": [child.process.pid for child in children],
    }


# --- 4. report ------------------------------------------------------------------------


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    """Which targets were met (reported, not asserted)."""
    return {
        "ratio_p50": result["ratio"]["p50"] <= TARGETS["ratio_p50"],
        "tap_p99_ms": result["tap"]["p99_ms"] <= TARGETS["tap_p99_ms"],
        "idle_cpu_percent": result["idle"]["cpu_percent"] <= TARGETS["idle_cpu_percent"],
        "rss_mb": result["idle"]["rss_mb"] <= TARGETS["rss_mb"],
        "ready_median_s": result["ready"]["median_s"] <= TARGETS["ready_median_s"],
    }


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, target) rows for :func:`format_table`."""
    tap, back, bare, ratio = result["tap"], result["tap_return"], result["bare_sqlite"], \
        result["ratio"]
    idle, ready, met = result["idle"], result["ready"], result["meets"]

    def target(key: str, text: str) -> str:
        return f"{text}  {'ok' if met[key] else 'OVER'}"

    return [
        ("tap -> lock energised p50", f"{tap['p50_ms']:.2f} ms", ""),
        ("tap -> lock energised p90", f"{tap['p90_ms']:.2f} ms", ""),
        ("tap -> lock energised p99", f"{tap['p99_ms']:.2f} ms",
         target("tap_p99_ms", f"<= {TARGETS['tap_p99_ms']:g} ms")),
        ("tap -> lock energised max", f"{tap['max_ms']:.2f} ms", ""),
        ("tap() return (+ LED/buzzer) p50", f"{back['p50_ms']:.2f} ms", ""),
        ("tap() return (+ LED/buzzer) p99", f"{back['p99_ms']:.2f} ms", ""),
        ("bare sqlite insert+commit p50", f"{bare['p50_ms']:.2f} ms", ""),
        ("bare sqlite insert+commit p99", f"{bare['p99_ms']:.2f} ms", ""),
        ("ratio tap/bare p50", f"{ratio['p50']:.2f}",
         target("ratio_p50", f"<= {TARGETS['ratio_p50']:g}")),
        ("ratio tap/bare p99", f"{ratio['p99']:.2f}", ""),
        (f"kiosk idle CPU ({idle['seconds']:.0f} s)", f"{idle['cpu_percent']:.2f} %",
         target("idle_cpu_percent", f"<= {TARGETS['idle_cpu_percent']:g} %")),
        ("kiosk RSS after idle", f"{idle['rss_mb']:.1f} MB",
         target("rss_mb", f"<= {TARGETS['rss_mb']:g} MB")),
        ("kiosk peak RSS (VmHWM)", f"{idle['peak_rss_mb']:.1f} MB", ""),
        (f"start -> READY=1 median ({ready['runs']} runs)", f"{ready['median_s']:.2f} s",
         target("ready_median_s", f"<= {TARGETS['ready_median_s']:g} s")),
        ("start -> READY=1 min", f"{ready['min_s']:.2f} s", ""),
        ("SIGTERM -> exit median", f"{ready['stop_median_s']:.2f} s", ""),
    ]


def format_table(result: dict[str, Any]) -> str:
    """A compact human table: figure, value, target; with the machine and the run."""
    machine, tap, ready, idle = result["machine"], result["tap"], result["ready"], result["idle"]
    codes = [*ready["exit_codes"], idle["exit_code"]]
    lines = [
        f"machine: {machine['arch']}, {machine['cpu']}, {machine['nproc']} CPU(s), "
        f"Python {machine['python']}",
        f"taps: {tap['taps']} after {tap['warmup']} warm-up, {tap['pupils']} pupils, "
        f"{tap['actions']}, {tap['events_committed']} tap events committed (with warm-up), "
        f"unlock synchronous: {tap['synchronous_unlock']}",
        "",
        f"{'figure':<36} {'value':>10}   target",
    ]
    lines += [
        f"{name:<36} {value:>10}   {goal}".rstrip() for name, value, goal in table_rows(result)
    ]
    lines += ["", f"kiosk children exited 0 after SIGTERM: {codes.count(0)}/{len(codes)}"]
    return "\n".join(lines)


def run_benchmarks(
    *, taps: int = 1000, idle_seconds: float = 30.0, as_json: bool = False, echo: Echo = print
) -> dict[str, Any]:
    """Run every benchmark, print the figures (a table, or JSON) and return them."""
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
