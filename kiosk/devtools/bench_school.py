"""``phonelocker bench school``: the dashboard at the size of a whole school.

Builds two schools with the project's own writers, a big one (default 2,000
pupils in 60 classes with 190 school days of history) and a 30-pupil one,
then measures both through the real WSGI stack (``phonelocker web``, waitress,
in a subprocess; real HTTP on loopback) and prints the figures side by side
with the ratio big/small and the issue's target:

* p50/p95 over ``--requests`` requests and the response size of: the office's
  Today and ``/api/today`` (full; each also with a tap recorded before every request,
  so that what was kept from the last request cannot serve it whole), ``/api/today``
  unchanged with ``If-None-Match`` and after a tap,
  the teacher's Today, one class opened on the office's Today (the fragment
  ``/today/class/<name>``), a pupil's page, the pupils list;
* the whole-year History CSV: time, size and the web server's RSS growth;
* ``phonelocker events --since <a month ago> --json`` (a subprocess);
* one open Today tab polling every second for ``--poll-seconds`` while a
  kiosk's heartbeat is written every 2 s: the web server's CPU share and RSS;
* the tap path (``KioskService.tap`` to the lock pin) on the big database and
  on an empty one (:mod:`kiosk.devtools.bench`'s rig), taken in turn, and the ratio.

The database is built in bulk: pupils and cards by the importer
(:func:`kiosk.school.importer.apply_import`), the year of taps with
:data:`kiosk.store.events.INSERT_EVENTS_SQL` in executemany batches
(:func:`kiosk.store.prepared.run_many`), holdings and approvals likewise. Figures are
printed, never asserted: read medians and ratios on a shared machine.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kiosk.devtools.bench_report import aligned, machine_line
from kiosk.devtools.kiosk_process import phonelocker_command, stop_child
from kiosk.devtools.measure import machine_info, percentile

Echo = Callable[[str], Any]
ZONE = "Europe/London"
LOCKER_ID = "bench-school"
BENCH_PASSWORD = "bench school password 1"
SMALL = {"pupils": 30, "classes": 1}
EVENT_BATCH = 20000
#: the issue's targets at 2,000 pupils (ms, KB, s, MB, %)
TARGETS = {
    "today_office": "≤ 100 ms",
    "api_full": "≤ 100 ms",
    "today_office_tap": "≤ 100 ms",
    "api_full_tap": "≤ 100 ms",
    "api_unchanged": "≤ 5 ms, ≤ 1 KB",
    "today_teacher": "≤ 30 ms",
    "class_opened": "≤ 30 ms",
    "pupil_page": "≤ 50 ms",
    "pupils_list": "≤ 100 ms",
    "csv": "≤ 3 s, RSS +≤ 10 MB",
    "events_json": "≤ 1 s",
    "poll_rss": "≤ 80 MB",
    "poll_cpu": "≤ 5 %",
    "tap": "ratio ≤ 1.1",
}


# --- building a school --------------------------------------------------------------


def write_config(folder: Path, url: str, port: int) -> Path:
    """``folder/config.toml`` for the school: its database, a locker, the web's key."""
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n'
        f'[locker]\nid = "{LOCKER_ID}"\nname = "Main entrance locker"\n\n'
        f'[policy]\ntimezone = "{ZONE}"\ncollect_from = "15:15"\n\n'
        f'[web]\nhost = "127.0.0.1"\nport = {port}\n'
        f'secret_key_file = "{folder / "secret_key"}"\n'
    )
    return path


def class_names(classes: int) -> list[str]:
    """``classes`` form names: 5A, 5B, ... 6A, ... (Years 5 and 6, which use the locker)."""
    per_year = max(1, (classes + 1) // 2)
    names = [f"{5 + n // per_year}{_letters(n % per_year)}" for n in range(classes)]
    return names


def _letters(n: int) -> str:
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(65 + rest) + text
    return text


def pupils_csv(pupils: int, classes: int) -> bytes:
    """An MIS export of ``pupils`` pupils spread over ``classes`` classes, each with a card."""
    names = class_names(classes)
    lines = ["UPN,Legal Forename,Legal Surname,Year,Reg Group,Card UID"]
    for n in range(pupils):
        form = names[n % len(names)]
        lines.append(f"S{n:012d},Pupil{n},Surname{(n * 7919) % 1000:03d},{form[0]},{form},"
                     f"{0x04B00000000000 + n:014X}")
    return ("\n".join(lines) + "\n").encode()


def school_days(today: date, days: int) -> list[date]:
    """The ``days`` weekdays before ``today``, oldest first."""
    found: list[date] = []
    day = today
    while len(found) < days:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            found.append(day)
    return found[::-1]


@dataclass
class School:
    folder: Path
    config_path: Path
    url: str
    pupils: int
    classes: int
    days: int
    build_s: float = 0.0
    events: int = 0
    size_mb: float | None = None
    teacher_class: str = ""
    pupil_id: int = 0
    #: cards of Year 6 pupils, who need no approval: the empty database's tappers are Year 6
    #: too (a Year 5 pupil's hand-in reads their approvals: one more query)
    uids: list[str] = field(default_factory=list)


def build_school(folder: Path, *, pupils: int, classes: int, days: int, port: int,
                 url: str | None = None, now: datetime | None = None) -> School:
    """Create, migrate and fill a school's database; return where it is and what is in it."""
    from sqlalchemy import select, text

    from kiosk.config import load_config
    from kiosk.locker.daemon import register_locker
    from kiosk.school.importer import apply_import
    from kiosk.school.pupil_csv import parse_pupils_csv
    from kiosk.school.staff import create_user
    from kiosk.store.db import Database, analyze
    from kiosk.store.events import INSERT_EVENT_TYPES, INSERT_EVENTS_SQL, event_values
    from kiosk.store.models import Card, KioskStatus, Pupil
    from kiosk.store.prepared import run_many
    from kiosk.timeutil import naive_utc

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{folder / 'phonelocker.db'}"
    config_path = write_config(folder, url, port)
    config = load_config(config_path)
    zone = ZoneInfo(ZONE)
    now = now or datetime.now(UTC)
    today = now.astimezone(zone).date()
    db = Database(url)
    try:
        db.upgrade()
        register_locker(db, config)
        with db.session() as session:
            plan = parse_pupils_csv(pupils_csv(pupils, classes))
            if not plan.ok:
                raise RuntimeError(f"bench school CSV rejected: {plan.summary}")
            apply_import(session, plan, actor="bench")
            session.commit()
            rows = session.execute(
                select(Pupil.id, Pupil.year, Pupil.class_name, Card.uid)
                .join(Card, Card.pupil_id == Pupil.id).where(Card.active).order_by(Pupil.id)
            ).all()
            first_class = rows[0].class_name
            create_user(session, "bench-office", BENCH_PASSWORD, role="office", actor="bench")
            create_user(session, "bench-teacher", BENCH_PASSWORD, role="teacher",
                        actor="bench", classes=[first_class])
            session.commit()

        def local(day: date, minutes: int) -> datetime:
            return naive_utc(datetime.combine(day, dtime(0), tzinfo=zone)
                             + timedelta(minutes=minutes))

        def tap(kind: str, at: datetime, pupil_id: int, uid: str) -> dict:
            return event_values(kind, at=at, pupil_id=pupil_id, card_uid=uid,
                                locker_id=LOCKER_ID, bay=1)

        # Year 5 approvals (in bulk, as events record them), then a year of taps.
        year5 = [row for row in rows if row.year == 5]
        approved_at = local(school_days(today, days)[0] if days else today, 8 * 60)
        with db.session() as session:
            if year5:
                session.execute(
                    text("INSERT INTO year5_approvals (pupil_id, approved_by, approved_at)"
                         " VALUES (:pupil_id, 'bench', :at)"),
                    [{"pupil_id": row.id, "at": approved_at} for row in year5],
                )
            session.commit()
        batch: list[dict] = []
        events = 0

        def flush() -> None:
            nonlocal batch, events
            if batch:
                with db.session() as session:
                    run_many(session, INSERT_EVENTS_SQL, INSERT_EVENT_TYPES, batch)
                    session.commit()
                events += len(batch)
                batch = []

        for day_number, day in enumerate(school_days(today, days)):
            for n, row in enumerate(rows):
                if (n + day_number) % 20 == 0:
                    continue  # one pupil in twenty forgets, each day a different one
                drop_off = 8 * 60 + 20 + (n * 13 + day_number) % 30
                batch.append(tap("deposit", local(day, drop_off), row.id, row.uid))
                if (n * 7 + day_number) % 100 == 0:
                    batch.append(event_values("refused", at=local(day, drop_off + 1),
                                              pupil_id=row.id, card_uid=row.uid,
                                              locker_id=LOCKER_ID, reason="already_in"))
                if (n + day_number) % 500 != 1:  # a few are left overnight
                    batch.append(tap("collect", local(day, 15 * 60 + 15 + n % 30), row.id,
                                     row.uid))
            if len(batch) >= EVENT_BATCH:
                flush()
        # Today: nine in ten handed in since the day began (at most an hour ago).
        local_now = now.astimezone(zone)
        midnight = datetime.combine(today, dtime(0), tzinfo=zone)
        holdings = []
        for n, row in enumerate(rows):
            if n % 10 == 9:
                continue
            at = max(midnight + timedelta(seconds=30),
                     local_now - timedelta(seconds=3600 - n % 3600))
            batch.append(tap("deposit", naive_utc(at), row.id, row.uid))
            holdings.append({"pupil_id": row.id, "locker_id": LOCKER_ID, "bay": 1,
                             "since": naive_utc(at)})
        flush()
        with db.session() as session:
            session.execute(
                text("INSERT INTO holdings (pupil_id, locker_id, bay, since)"
                     " VALUES (:pupil_id, :locker_id, :bay, :since)"), holdings)
            session.add(KioskStatus(locker_id=LOCKER_ID, updated_at=naive_utc(now),
                                    reader_ok=True, emulated=True,
                                    hardware_json=json.dumps({"bays": [
                                        {"bay": 1, "locked": True, "door": "closed"}]})))
            session.commit()
        analyze(db.engine)
    finally:
        db.dispose()
    school = School(folder, config_path, url, pupils, classes, days,
                    build_s=time.perf_counter() - started, events=events)
    school.teacher_class = first_class
    school.pupil_id = rows[len(rows) // 2].id
    school.uids = [row.uid for row in rows if row.year == 6] or [row.uid for row in rows]
    if url.startswith("sqlite:///"):
        school.size_mb = Path(url.removeprefix("sqlite:///")).stat().st_size / 1e6
    return school


# --- the web server and a browser's requests ---------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def web_server(school: School, port: int, log: Path) -> Iterator[Any]:
    """``phonelocker web`` on the school's config in a subprocess; yields its psutil.Process."""
    import psutil

    with log.open("wb") as out:
        process = subprocess.Popen(
            [*phonelocker_command(), "web", "--config", str(school.config_path),
             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"phonelocker web exited: {log.read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("phonelocker web did not start listening") from None
                time.sleep(0.1)
        yield psutil.Process(process.pid)
    finally:
        stop_child(process)


class Browser:
    """A signed-in browser: one keep-alive HTTP connection with the session cookie."""

    def __init__(self, port: int, username: str) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}
        page = self.get("/login")[2].decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if token is None:
            raise RuntimeError("no CSRF token on the login page")
        body = (f"csrf_token={token.group(1)}&username={username}"
                f"&password={BENCH_PASSWORD.replace(' ', '+')}")
        status, _, _ = self.request("POST", "/login", body.encode(),
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"bench login as {username} failed: HTTP {status}")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, response.headers, data

    def get(self, path: str, headers: dict[str, str] | None = None):
        return self.request("GET", path, headers=headers)

    def close(self) -> None:
        self.connection.close()


def cpu_seconds(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def timed(browser: Browser, path: str, requests: int, process,
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    """p50/p95 ms and the size of ``requests`` GETs of ``path`` (after one warm-up), and
    the web server's CPU per request (what the page costs, whatever the machine's load)."""
    status, _, _ = browser.get(path, headers)
    samples, size = [], 0
    cpu = cpu_seconds(process)
    for _ in range(requests):
        started = time.perf_counter()
        status, _, data = browser.get(path, headers)
        samples.append((time.perf_counter() - started) * 1000)
        size = len(data)
    cpu_ms = (cpu_seconds(process) - cpu) * 1000 / requests
    return {"p50_ms": statistics.median(samples), "p95_ms": percentile(samples, 95),
            "bytes": size, "status": status, "cpu_ms": cpu_ms}


def timed_after_taps(school: School, browser: Browser, path: str, requests: int,
                     process) -> dict[str, Any]:
    """Like :func:`timed`, but with a tap recorded before each request (a refused tap, as
    the kiosk records one, by a pupil of another class each time): what the page costs
    when the school's day has just changed in one class, not when nothing has."""
    from sqlalchemy import select

    from kiosk.store.db import Database
    from kiosk.store.events import Kind, record_event
    from kiosk.store.models import Pupil
    from kiosk.timeutil import naive_utc

    db = Database(school.url)
    try:
        with db.session() as session:
            # one pupil per class, round the classes
            pupils = session.execute(
                select(Pupil.class_name, Pupil.id).where(Pupil.active).order_by(Pupil.id)
            ).all()
        tappers = list({name: pupil_id for name, pupil_id in reversed(pupils)}.values())
        browser.get(path)
        samples, size, cpu_total = [], 0, 0.0
        for n in range(requests):
            with db.session() as session:
                record_event(session, Kind.REFUSED, at=naive_utc(datetime.now(UTC)),
                             pupil_id=tappers[n % len(tappers)], locker_id=LOCKER_ID,
                             reason="already_in")
                session.commit()
            cpu = cpu_seconds(process)
            started = time.perf_counter()
            status, _, data = browser.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            cpu_total += cpu_seconds(process) - cpu
            size = len(data)
    finally:
        db.dispose()
    return {"p50_ms": statistics.median(samples), "p95_ms": percentile(samples, 95),
            "bytes": size, "status": status, "cpu_ms": cpu_total * 1000 / requests}


class RssWatch(threading.Thread):
    """The highest RSS of a process, sampled every 20 ms while running."""

    def __init__(self, process) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.halt = process, process.memory_info().rss, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self.halt.set()
        self.join()
        return self.peak


def mb(value: int) -> float:
    return value / (1024 * 1024)


def heartbeat_writer(url: str, halt: threading.Event) -> threading.Thread:
    """A kiosk's heartbeat (kiosk_status.updated_at) every 2 s, as the daemon writes it
    (without one the kiosk shows as offline and its age is redrawn every few seconds)."""
    from kiosk.store.db import Database
    from kiosk.store.models import KioskStatus
    from kiosk.timeutil import naive_utc

    def run() -> None:
        db = Database(url)
        try:
            while not halt.wait(2.0):
                with db.session() as session:
                    status = session.get(KioskStatus, LOCKER_ID)
                    status.updated_at = naive_utc(datetime.now(UTC))
                    session.commit()
        finally:
            db.dispose()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def measure_web(school: School, workdir: Path, requests: int, poll_seconds: float,
                echo: Echo) -> dict[str, Any]:
    """Every web figure of one school."""
    port = free_port()
    result: dict[str, Any] = {}
    halt = threading.Event()
    writer = heartbeat_writer(school.url, halt)  # a running kiosk, throughout
    with web_server(school, port, workdir / f"web-{school.pupils}.log") as process:
        office = Browser(port, "bench-office")
        teacher = Browser(port, "bench-teacher")
        result["rss_start_mb"] = mb(process.memory_info().rss)
        result["today_office"] = timed(office, "/", requests, process)
        result["api_full"] = timed(office, "/api/today", requests, process)
        result["today_office_tap"] = timed_after_taps(school, office, "/", requests, process)
        result["api_full_tap"] = timed_after_taps(school, office, "/api/today", requests,
                                                  process)
        _, headers, _ = office.get("/api/today")
        etag = {"If-None-Match": headers["ETag"]}
        result["api_unchanged"] = timed(office, "/api/today", requests, process, etag)
        result["api_after_tap"] = after_tap(school, office, etag)
        result["today_teacher"] = timed(teacher, "/", requests, process)
        result["class_opened"] = timed(
            office, f"/today/class/{school.teacher_class}", requests, process)
        result["pupil_page"] = timed(office, f"/pupils/{school.pupil_id}", requests, process)
        result["pupils_list"] = timed(office, "/pupils", requests, process)
        result["csv"] = whole_year_csv(school, office, process)
        result["poll"] = polling_tab(school, office, process, poll_seconds)
        office.close()
        teacher.close()
    halt.set()
    writer.join()
    result["events_json"] = events_json(school)
    echo(f"  measured the web of {school.pupils} pupils")
    return result


def after_tap(school: School, browser: Browser, etag: dict[str, str]) -> dict[str, Any]:
    """One tap (a collect, recorded as the kiosk would), then the poll that follows it."""
    from kiosk.store.db import Database
    from kiosk.store.events import Kind, record_event
    from kiosk.store.models import Holding
    from kiosk.timeutil import naive_utc

    db = Database(school.url)
    try:
        with db.session() as session:
            holding = session.query(Holding).order_by(Holding.pupil_id).first()
            uid = None
            record_event(session, Kind.COLLECT, at=naive_utc(datetime.now(UTC)),
                         pupil_id=holding.pupil_id, card_uid=uid, locker_id=LOCKER_ID, bay=1)
            session.delete(holding)
            session.commit()
    finally:
        db.dispose()
    started = time.perf_counter()
    status, _, data = browser.get("/api/today", etag)
    elapsed = (time.perf_counter() - started) * 1000
    document = json.loads(data)
    return {"ms": elapsed, "bytes": len(data), "status": status,
            "sections": sorted(document.get("html", {}))}


def whole_year_csv(school: School, browser: Browser, process) -> dict[str, Any]:
    """The History CSV of every event since the first school day, and the RSS it cost."""
    first = date.today() - timedelta(days=int(school.days * 7 / 5) + 10)
    path = f"/history.csv?from={first.isoformat()}&to={date.today().isoformat()}"
    before = process.memory_info().rss
    watch = RssWatch(process)
    watch.start()
    cpu = cpu_seconds(process)
    started = time.perf_counter()
    status, _, data = browser.get(path)
    elapsed = time.perf_counter() - started
    peak = watch.stop()
    return {"s": elapsed, "cpu_s": cpu_seconds(process) - cpu, "bytes": len(data),
            "status": status, "rows": data.count(b"\n") - 1,
            "rss_growth_mb": mb(peak - before)}


def polling_tab(school: School, browser: Browser, process, seconds: float) -> dict[str, Any]:
    """One Today tab polling every second (app.js: If-None-Match), a heartbeat every 2 s."""
    _, headers, _ = browser.get("/api/today")
    version = headers.get("ETag", "")
    rss_before = process.memory_info().rss
    cpu_before = process.cpu_times()
    started = time.monotonic()
    polls = not_modified = sent = 0
    while time.monotonic() - started < seconds:
        tick = time.monotonic()
        status, headers, data = browser.get("/api/today", {"If-None-Match": version})
        polls += 1
        sent += len(data)
        if status == 304:
            not_modified += 1
        else:
            version = headers.get("ETag", version)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    wall = time.monotonic() - started
    cpu_after = process.cpu_times()
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {"seconds": wall, "polls": polls, "not_modified": not_modified,
            "bytes_per_poll": sent / max(polls, 1), "cpu_percent": 100 * cpu / wall,
            "rss_mb": mb(process.memory_info().rss),
            "rss_growth_mb": mb(process.memory_info().rss - rss_before)}


def events_json(school: School, runs: int = 3) -> dict[str, Any]:
    """``phonelocker events --since <30 days ago> --json``, median of ``runs`` runs."""
    since = (date.today() - timedelta(days=30)).isoformat()
    import resource

    samples, cpu, size = [], [], 0
    for _ in range(runs):
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [*phonelocker_command(), "events", "--config", str(school.config_path),
             "--since", since, "--json"], capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        size = len(done.stdout)
    return {"s": statistics.median(samples), "cpu_s": statistics.median(cpu), "bytes": size}


# --- the tap path ------------------------------------------------------------------


def tap_figures(school: School, workdir: Path, taps: int) -> tuple[dict, dict]:
    """Median and p95 ms from ``tap()`` to the lock pin on ``school``'s database (taps by
    its pupils' cards) and on an empty one (:func:`kiosk.devtools.bench_rig.build_tap_rig`),
    the two taken in turn (which goes first alternates): both see the same moment of a
    shared machine, so their ratio compares the databases, not two moments' loads."""
    from kiosk.devtools.bench import time_tap
    from kiosk.devtools.bench_rig import build_tap_rig

    folder = workdir / "empty-taps"
    folder.mkdir(exist_ok=True)
    rigs = [_school_tap_rig(school, workdir)]
    samples: tuple[list[float], list[float]] = ([], [])
    try:
        rigs.append(build_tap_rig(folder))
        for n in range(taps + 10):
            for which in ((0, 1) if n % 2 else (1, 0)):
                rig = rigs[which]
                timing = time_tap(rig, rig.uids[n % len(rig.uids)])
                if n >= 10:
                    samples[which].append(timing.to_energised_ns / 1e6)
    finally:
        for rig in rigs:
            rig.close()
    big, empty = ({"p50_ms": statistics.median(found), "p95_ms": percentile(found, 95)}
                  for found in samples)
    return big, empty


def _school_tap_rig(school: School, workdir: Path):
    """The tap-path service on ``school``'s database, with the first pupils' cards."""
    from gpiozero.pins.mock import MockFactory

    from kiosk.config import parse_config
    from kiosk.devtools.bench_rig import TapRig, stamping_pin_class, tap_config
    from kiosk.locker.daemon import build_hardware
    from kiosk.locker.tap import KioskService
    from kiosk.store.db import Database

    base = tap_config(workdir)
    config = parse_config({
        "database": {"url": school.url}, "gpio": {"pin_factory": "mock"},
        "locker": {"id": LOCKER_ID, "name": "Main entrance locker",
                   "unlock_seconds": base.locker.unlock_seconds},
        "policy": {"grace_seconds": 0, "debounce_seconds": 0, "collect_from": "00:00"},
    })
    db = Database(school.url)
    hardware = build_hardware(config, pin_factory=MockFactory(pin_class=stamping_pin_class()))
    hardware.close_doors_if_emulated()
    return TapRig(KioskService(config, db, hardware), hardware, db, school.uids[:8])


# --- the report --------------------------------------------------------------------


def _ratio(big: float, small: float) -> str:
    return f"{big / small:.2f}" if small else "–"


def _kb(size: float) -> str:
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / 1048576:.2f} MB"


def table_rows(big: dict[str, Any], small: dict[str, Any]) -> list[tuple[str, ...]]:
    """(what, small, big, ratio, target) for each figure."""
    rows = []
    for key, label in (("today_office", "Today, office (all classes)"),
                       ("today_office_tap", "Today, office, a tap before each"),
                       ("api_full", "/api/today, office, full document"),
                       ("api_full_tap", "/api/today, full, a tap before each"),
                       ("api_unchanged", "/api/today, unchanged (If-None-Match)"),
                       ("today_teacher", "Today, teacher (one class)"),
                       ("class_opened", "Today, office opens a class"),
                       ("pupil_page", "Pupil page"),
                       ("pupils_list", "Pupils list (first page)")):
        b, s = big["web"][key], small["web"][key]
        rows.append((label, f"p50 {s['p50_ms']:.1f} / p95 {s['p95_ms']:.1f} ms, "
                            f"cpu {s['cpu_ms']:.1f} ms, {_kb(s['bytes'])}",
                     f"p50 {b['p50_ms']:.1f} / p95 {b['p95_ms']:.1f} ms, "
                     f"cpu {b['cpu_ms']:.1f} ms, {_kb(b['bytes'])}",
                     _ratio(b["p95_ms"], s["p95_ms"]), TARGETS.get(key, "")))
    b, s = big["web"]["api_after_tap"], small["web"]["api_after_tap"]
    rows.append(("/api/today after one tap", f"{s['ms']:.1f} ms, {_kb(s['bytes'])}",
                 f"{b['ms']:.1f} ms, {_kb(b['bytes'])}: {', '.join(b['sections'])}",
                 _ratio(b["bytes"], s["bytes"]), "that class's section"))
    b, s = big["web"]["csv"], small["web"]["csv"]
    rows.append(("History CSV, whole year",
                 f"{s['s']:.2f} s (cpu {s['cpu_s']:.2f} s), {_kb(s['bytes'])}, "
                 f"RSS +{s['rss_growth_mb']:.1f} MB",
                 f"{b['s']:.2f} s (cpu {b['cpu_s']:.2f} s), {_kb(b['bytes'])}, "
                 f"RSS +{b['rss_growth_mb']:.1f} MB",
                 _ratio(b["s"], s["s"]), TARGETS["csv"]))
    b, s = big["web"]["events_json"], small["web"]["events_json"]
    rows.append(("events --since <month> --json", f"{s['s']:.2f} s (cpu {s['cpu_s']:.2f} s)",
                 f"{b['s']:.2f} s (cpu {b['cpu_s']:.2f} s), {_kb(b['bytes'])}",
                 _ratio(b["s"], s["s"]), TARGETS["events_json"]))
    b, s = big["web"]["poll"], small["web"]["poll"]
    rows.append((f"web RSS after {b['seconds']:.0f} s of polling",
                 f"{s['rss_mb']:.0f} MB (start {small['web']['rss_start_mb']:.0f}, "
                 f"polling +{s['rss_growth_mb']:.1f})",
                 f"{b['rss_mb']:.0f} MB (start {big['web']['rss_start_mb']:.0f}, "
                 f"polling +{b['rss_growth_mb']:.1f})",
                 _ratio(b["rss_mb"], s["rss_mb"]), TARGETS["poll_rss"]))
    rows.append(("one open Today tab, web CPU",
                 f"{s['cpu_percent']:.1f} % ({s['not_modified']}/{s['polls']} 304, "
                 f"{s['bytes_per_poll']:.0f} B/poll)",
                 f"{b['cpu_percent']:.1f} % ({b['not_modified']}/{b['polls']} 304, "
                 f"{b['bytes_per_poll']:.0f} B/poll)",
                 _ratio(b["cpu_percent"], s["cpu_percent"]), TARGETS["poll_cpu"]))
    b, s = big["tap"], small["tap"]
    rows.append(("tap to lock pin (vs empty database)",
                 f"p50 {s['p50_ms']:.2f} / p95 {s['p95_ms']:.2f} ms",
                 f"p50 {b['p50_ms']:.2f} / p95 {b['p95_ms']:.2f} ms",
                 _ratio(b["p50_ms"], s["p50_ms"]), TARGETS["tap"]))
    return rows


def format_report(result: dict[str, Any]) -> str:
    big, small = result["big"], result["small"]
    lines = [
        f"school: {big['pupils']} pupils, {big['classes']} classes, {big['days']} days, "
        f"{big['events']:,} events"
        + (f", {big['size_mb']:.0f} MB" if big.get("size_mb") else "")
        + f"; built in {big['build_s']:.1f} s ({big['url_kind']})",
        f"small school: {small['pupils']} pupils, {small['events']:,} events; "
        f"{result['requests']} requests per figure",
        "",
    ]
    rows = [("what", f"{small['pupils']} pupils", f"{big['pupils']} pupils", "ratio", "target")]
    rows += table_rows(big, small)
    lines += [*aligned(rows), "", machine_line(result)]
    return "\n".join(lines)


def run_school_benchmarks(*, pupils: int, classes: int, days: int, keep: Path | None,
                          url: str | None, requests: int, poll_seconds: float, taps: int,
                          as_json: bool, echo: Echo) -> dict[str, Any]:
    """Build both schools, measure them, print the table (or JSON)."""
    import os

    workdir = Path(tempfile.mkdtemp(prefix="phonelocker-bench-school-"))
    try:
        result: dict[str, Any] = {"requests": requests, "machine": machine_info()}
        for name, size in (("small", SMALL | {"days": days, "url": None}),
                           ("big", {"pupils": pupils, "classes": classes, "days": days,
                                    "url": url})):
            folder = keep if (name == "big" and keep) else workdir / name
            echo(f"building the {name} school ({size['pupils']} pupils)…")
            school = build_school(folder, pupils=size["pupils"], classes=size["classes"],
                                  days=size["days"], port=free_port(), url=size["url"])
            echo(f"  built in {school.build_s:.1f} s: {school.events:,} events")
            figures = {"pupils": school.pupils, "classes": school.classes, "days": school.days,
                       "events": school.events, "build_s": school.build_s,
                       "size_mb": school.size_mb,
                       "url_kind": school.url.split(":", 1)[0]}
            figures["web"] = measure_web(school, workdir, requests, poll_seconds, echo)
            result[name] = figures
        # The tap path on the big school (the last built) and, for the ratio, on an
        # empty database.
        result["big"]["tap"], result["small"]["tap"] = tap_figures(school, workdir, taps)
        result["load"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        echo(json.dumps(result, indent=2, default=str))
    else:
        echo(format_report(result))
        if keep:
            echo(f"\nkept {keep}/config.toml and its database; sign in as bench-office or "
                 f"bench-teacher (password {BENCH_PASSWORD!r}), or add a user with "
                 f"'phonelocker users create --config {keep}/config.toml'")
    return result
