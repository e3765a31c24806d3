"""``phonelocker bench import``: how long a pupil import holds the database's write lock.

For each size, a generated MIS export (UPN, names, year, class, card) is
imported into a fresh, migrated SQLite database in a temporary folder, twice:

* **new**: every pupil created (the first import of a school);
* **re-import**: the same file again with one pupil in ten moved to another
  class and one in twenty given a new card (the termly re-import).

Each is timed in phases: *check* (reading and checking the CSV), *prepare*
(reading pupils and cards, matching, preparing every statement's values; no
lock held) and *write* (from asking for the write lock to the commit: what a
tap waits for at worst). Beside it, another connection keeps taking and
releasing the write lock (as a tap's commit would); the longest it waited is
reported as "longest wait". Medians of ``runs`` runs, printed, never asserted.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kiosk.devtools.measure import machine_info

#: the issue's targets for the write, in seconds
TARGETS_S = {2000: 0.5, 50000: 5.0}
Echo = Callable[[str], Any]


def export_csv(rows: int, *, variant: bool = False) -> bytes:
    """A pupil export of ``rows`` pupils; ``variant`` moves 1 in 10 and re-cards 1 in 20."""
    lines = ["UPN,Legal Forename,Legal Surname,Year,Reg Group,Card UID"]
    for n in range(rows):
        year = 1 + n % 6
        form = "ABC"[(n + (1 if variant and n % 10 == 0 else 0)) % 3]
        card = 0x10000000 + n + (0x08000000 if variant and n % 20 == 0 else 0)
        lines.append(f"U{n:012d},Pupil{n},Surname{n % 997},{year},{year}{form},{card:08X}")
    return ("\n".join(lines) + "\n").encode()


class LockProbe(threading.Thread):
    """Another connection taking and releasing the write lock every 10 ms, as taps do."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.longest = 0.0
        self.halt = threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self.halt.is_set():
                started = time.perf_counter()
                connection.execute("BEGIN IMMEDIATE")
                self.longest = max(self.longest, time.perf_counter() - started)
                connection.execute("ROLLBACK")
                self.halt.wait(0.01)
        finally:
            connection.close()

    def stop(self) -> float:
        self.halt.set()
        self.join()
        return self.longest


def time_import(database, data: bytes) -> dict[str, float]:
    """Import ``data`` once with the lock probe running: the phases' seconds, and the
    pupils created and updated."""
    from kiosk.school.importer import ImportTimings, apply_import
    from kiosk.school.pupil_csv import parse_pupils_csv

    probe = LockProbe(Path(database.engine.url.database))
    probe.start()
    try:
        started = time.perf_counter()
        plan = parse_pupils_csv(data)
        checked = time.perf_counter()
        timings = ImportTimings()
        with database.session() as session:
            result = apply_import(session, plan, actor="bench", timings=timings)
            before_commit = time.perf_counter()
            session.commit()
            committed = time.perf_counter()
    finally:
        longest = probe.stop()
    return {
        "check_s": checked - started,
        "prepare_s": timings.prepare,
        "write_s": timings.write + (committed - before_commit),
        "longest_wait_s": longest,
        "created": result.created,
        "updated": result.updated,
    }


def bench_size(workdir: Path, rows: int, runs: int) -> dict[str, Any]:
    """Medians (and the worst wait) of ``runs`` new imports and re-imports of ``rows`` pupils."""
    from kiosk.store.db import Database

    first, again = export_csv(rows), export_csv(rows, variant=True)
    samples: dict[str, list[dict[str, float]]] = {"new": [], "reimport": []}
    for run in range(runs):
        database = Database(f"sqlite:///{workdir / f'import-{rows}-{run}.db'}")
        try:
            database.upgrade()
            samples["new"].append(time_import(database, first))
            samples["reimport"].append(time_import(database, again))
        finally:
            database.dispose()
    result: dict[str, Any] = {"rows": rows, "runs": runs, "target_write_s": TARGETS_S.get(rows)}
    for scenario, timings in samples.items():
        result[scenario] = {
            key: statistics.median(t[key] for t in timings) for key in timings[0]
        } | {"max_longest_wait_s": max(t["longest_wait_s"] for t in timings)}
    return result


def format_table(results: list[dict[str, Any]]) -> str:
    header = (f"{'rows':>7}  {'import':<9} {'check s':>8} {'prepare s':>9} {'write s':>8} "
              f"{'longest wait s':>14}  target (write)")
    lines = [header, "-" * len(header)]
    for result in results:
        target = result["target_write_s"]
        for scenario in ("new", "reimport"):
            figures = result[scenario]
            verdict = ""
            if target is not None:
                verdict = f"<= {target:g} s: {'yes' if figures['write_s'] <= target else 'NO'}"
            lines.append(
                f"{result['rows']:>7}  {scenario:<9} {figures['check_s']:>8.3f} "
                f"{figures['prepare_s']:>9.3f} {figures['write_s']:>8.3f} "
                f"{figures['max_longest_wait_s']:>14.3f}  {verdict}"
            )
    lines.append(f"medians of {results[0]['runs']} run(s); longest wait: the worst of the runs")
    return "\n".join(lines)


def run_import_benchmarks(
    sizes: Iterable[int], *, runs: int = 3, as_json: bool = False, echo: Echo = print
) -> dict[str, Any]:
    """Benchmark the import at each size, print the figures (a table, or JSON), return them."""
    progress: Echo = (lambda _text: None) if as_json else echo
    results = []
    with tempfile.TemporaryDirectory(prefix="phonelocker-bench-import-") as tmp:
        for rows in sizes:
            progress(f"import: {rows} rows, {runs} run(s) ...")
            results.append(bench_size(Path(tmp), rows, runs))
    document = {"machine": machine_info(), "imports": results}
    if as_json:
        echo(json.dumps(document, indent=2))
    else:
        machine = document["machine"]
        echo("")
        echo(format_table(results))
        echo(f"machine: {machine['cpu']} x{machine['nproc']}, Python {machine['python']}")
    return document
