"""``phonelocker bench report``: a school year at school scale, and how long its report takes.

:func:`build_school_year` fills a migrated database in bulk with a plausible
year (reusable, e.g. by a later ``phonelocker bench school``): pupils in classes
of 30, mostly Year 6, some Year 5 with and without approval, a few from other
years; on each school day most allowed pupils hand in between 08:20 and 09:10
and collect after the collection time, some late, a few kept overnight or
handed back by the office, and refused taps of every kind. Events are the
project's own rows (:func:`kiosk.store.events.event_values`) inserted with one
``executemany`` per batch. A fixed seed makes every run build the same year.

:func:`run_report_bench` then times the whole-year, whole-school report: the
figures plus the standalone HTML, and the figures plus the CSV, median of
``runs``. Printed, never asserted.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from kiosk.config import Config, DatabaseConfig
from kiosk.devtools.measure import machine_info
from kiosk.store.db import Database
from kiosk.store.events import Kind, event_values
from kiosk.store.models import Bay, Card, Event, Holding, Locker, Pupil, Year5Approval

BATCH = 20000
LOCKER = "locker-1"
CLASS_SIZE = 30
TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class SchoolYear:
    """What :func:`build_school_year` made."""

    first_day: date
    last_day: date
    pupils: int
    events: int
    build_seconds: float


def school_days(first: date, count: int) -> list[date]:
    """``count`` weekdays from ``first`` on."""
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _at(day: date, hour: int, minute: int, zone, seconds: int = 0) -> datetime:
    local = datetime.combine(day, clock_time(hour, minute), tzinfo=zone) + timedelta(
        seconds=seconds)
    return local.astimezone(UTC).replace(tzinfo=None)


def build_school_year(database: Database, config: Config, *, pupils: int = 2000,
                      days: int = 190, first_day: date = date(2025, 9, 3),
                      seed: int = 12) -> SchoolYear:
    """Fill ``database`` (migrated, empty) with a school year; return what was made."""
    started = time.perf_counter()
    rng = random.Random(seed)
    zone = config.policy.zone
    calendar = school_days(first_day, days)
    enrolled = _at(first_day - timedelta(days=7), 9, 0, zone)
    pupil_rows, card_rows, approval_rows = [], [], []
    in_year: dict[int, int] = {}
    for number in range(1, pupils + 1):
        roll = rng.random()
        year = 6 if roll < 0.85 else 5 if roll < 0.95 else 4
        in_year[year] = in_year.get(year, 0) + 1
        pupil_rows.append({
            "id": number, "name": f"Pupil {number:04d}", "year": year,
            "class_name": f"{year}-{1 + (in_year[year] - 1) // CLASS_SIZE:02d}",
            "active": True, "created_at": enrolled, "external_id": f"B{number:06d}",
        })
        card_rows.append({"uid": f"04{number:012X}", "pupil_id": number, "active": True,
                          "issued_at": enrolled})
        if year == 5 and rng.random() < 0.6:
            approval_rows.append({"pupil_id": number, "approved_by": "Mrs Head",
                                  "approved_at": enrolled, "until": None})
    approved = {row["pupil_id"] for row in approval_rows}

    events: list[dict] = []
    held: dict[int, datetime] = {}
    count = 0
    with database.session() as session:
        session.add(Locker(id=LOCKER, name="Year 6 locker", bays=[Bay(number=1)]))
        session.flush()
        session.execute(insert(Pupil), pupil_rows)
        session.execute(insert(Card), card_rows)
        if approval_rows:
            session.execute(insert(Year5Approval), approval_rows)

        def event(kind: Kind, at: datetime, pupil: dict | None = None, **fields) -> None:
            nonlocal count
            events.append(event_values(
                kind, at=at, pupil_id=pupil["id"] if pupil else None,
                card_uid=f"04{pupil['id']:012X}" if pupil else fields.pop("uid", None),
                locker_id=LOCKER, bay=fields.pop("bay", 1), **fields))
            if len(events) >= BATCH:
                session.execute(insert(Event), events)
                count += len(events)
                events.clear()

        for day in calendar:
            collect_from = config.policy.collection_time(day.weekday())
            for pupil in pupil_rows:
                pid, year = pupil["id"], pupil["year"]
                allowed = year == 6 or (year == 5 and pid in approved)
                if not allowed:
                    if rng.random() < 0.08:
                        reason = "year5_not_approved" if year == 5 else "year_not_allowed"
                        event(Kind.REFUSED, _at(day, 8, 30, zone, rng.randrange(1800)), pupil,
                              reason=reason, bay=None)
                    continue
                if pid in held:
                    del held[pid]  # kept overnight: collected this afternoon
                    event(Kind.COLLECT, _at(day, collect_from.hour, collect_from.minute, zone,
                                            rng.randrange(1200)), pupil)
                    continue
                if rng.random() >= 0.9:
                    continue
                event(Kind.DEPOSIT, _at(day, 8, 20, zone, rng.randrange(3000)), pupil)
                if rng.random() < 0.02:
                    event(Kind.REFUSED, _at(day, 13, 0, zone, rng.randrange(3600)), pupil,
                          reason="too_early", bay=None)
                outcome = rng.random()
                start = (collect_from.hour, collect_from.minute)
                if outcome < 0.86:
                    event(Kind.COLLECT, _at(day, *start, zone, rng.randrange(1500)), pupil)
                elif outcome < 0.94:
                    event(Kind.COLLECT, _at(day, *start, zone, 1860 + rng.randrange(5400)),
                          pupil)
                elif outcome < 0.97:
                    event(Kind.OFFICE_RETURN, _at(day, 16, 30, zone, rng.randrange(1800)),
                          pupil, actor="office", reason="handed to a parent")
                else:
                    held[pid] = _at(day, 8, 30, zone)
            for _ in range(rng.randrange(4)):
                event(Kind.REFUSED, _at(day, 8, 25, zone, rng.randrange(2400)), None,
                      uid=f"04FF{rng.randrange(16 ** 10):010X}", reason="unknown_card",
                      bay=None)
            if rng.random() < 0.02:
                event(Kind.OVERRIDE, _at(day, 11, 0, zone), None, actor="office",
                      reason="fire drill", bay=None)
        if events:
            session.execute(insert(Event), events)
            count += len(events)
        for pid, since in held.items():
            session.add(Holding(pupil_id=pid, locker_id=LOCKER, bay=1, since=since))
        session.commit()
    return SchoolYear(calendar[0], calendar[-1], pupils, count,
                      time.perf_counter() - started)


def _median_seconds(work: Callable[[], Any], runs: int) -> tuple[float, float, float]:
    """(median wall time, min wall time, median CPU time of this process) over ``runs``.

    CPU time is printed beside wall time because on a shared machine the wall
    time mostly measures the other processes.
    """
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def run_report_bench(*, pupils: int, days: int, runs: int = 3, keep: Path | None = None,
                     as_json: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Build a year (in ``keep`` or a temporary file), time its report, print the figures."""
    from kiosk.reports.figures import build_report
    from kiosk.reports.render import render_csv, render_file

    with tempfile.TemporaryDirectory(prefix="phonelocker-bench-report-") as workdir:
        path = keep or Path(workdir) / "school.db"
        if path.exists():  # never overwrite: it could be someone's database
            raise FileExistsError(f"{path} already exists")
        config = Config(database=DatabaseConfig(url=f"sqlite:///{path}"))
        database = Database(config.database.url)
        try:
            database.upgrade()
            year = build_school_year(database, config, pupils=pupils, days=days)
            now = datetime.combine(year.last_day + timedelta(days=1), clock_time(12),
                                   tzinfo=UTC)
            sizes: dict[str, int] = {}

            def report(fmt: str) -> None:
                with database.session() as session:
                    figures = build_report(session, config, year.first_day, year.last_day,
                                           now=now)
                text = render_file(figures) if fmt == "html" else render_csv(figures)
                sizes[fmt] = len(text.encode())

            def figures_only() -> None:
                with database.session() as session:
                    build_report(session, config, year.first_day, year.last_day, now=now)

            load_before = os.getloadavg()[0]
            html_median, html_min, html_cpu = _median_seconds(lambda: report("html"), runs)
            csv_median, csv_min, csv_cpu = _median_seconds(lambda: report("csv"), runs)
            figures_median, _, figures_cpu = _median_seconds(figures_only, runs)
            load_after = os.getloadavg()[0]
        finally:
            database.dispose()
    result = {
        "pupils": year.pupils, "school_days": days, "events": year.events,
        "range": [year.first_day.isoformat(), year.last_day.isoformat()],
        "build_seconds": round(year.build_seconds, 2), "runs": runs,
        "figures_median_s": round(figures_median, 3), "figures_cpu_s": round(figures_cpu, 3),
        "html_median_s": round(html_median, 3), "html_min_s": round(html_min, 3),
        "html_cpu_s": round(html_cpu, 3),
        "csv_median_s": round(csv_median, 3), "csv_min_s": round(csv_min, 3),
        "csv_cpu_s": round(csv_cpu, 3),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "html_bytes": sizes.get("html"), "csv_bytes": sizes.get("csv"),
        "target_s": TARGET_SECONDS, "machine": machine_info(),
    }
    if as_json:
        echo(json.dumps(result, indent=2))
        return result
    echo(f"school year: {year.pupils} pupils, {days} school days "
         f"({result['range'][0]} to {result['range'][1]}), {year.events} events, "
         f"built in {result['build_seconds']} s")
    echo(f"whole-year report, median of {runs}: wall time (min), and CPU time of this process:")
    echo(f"  figures only     {figures_median:.3f} s, CPU {figures_cpu:.3f} s")
    verdict = "ok" if max(html_median, csv_median) <= TARGET_SECONDS else "OVER TARGET"
    echo(f"  figures + html   {html_median:.3f} s ({html_min:.3f} s), CPU {html_cpu:.3f} s, "
         f"{result['html_bytes']} bytes")
    echo(f"  figures + csv    {csv_median:.3f} s ({csv_min:.3f} s), CPU {csv_cpu:.3f} s, "
         f"{result['csv_bytes']} bytes")
    echo(f"  target           <= {TARGET_SECONDS:g} s wall: {verdict}")
    echo(f"  load average     {load_before:.2f} before, {load_after:.2f} after "
         f"(the machine's other work: wall time above CPU time is waiting for a core)")
    machine = result["machine"]
    echo(f"machine: {machine.get('cpu', '')} ({machine.get('nproc', '')} CPUs), "
         f"Python {machine.get('python', '')}")
    return result
