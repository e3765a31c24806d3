"""``phonelocker bench school``: it builds a school with the project's writers and prints
every figure of issue 9 with its ratio. Small sizes; no timing is asserted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from kiosk.devtools.bench_school import build_school, class_names, school_days
from kiosk.school.queries import pupil_states
from kiosk.store.db import Database

from .conftest import run_cli

NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # injected: a Tuesday morning


def test_the_built_school_has_its_pupils_history_and_today(tmp_path):
    school = build_school(tmp_path / "school", pupils=40, classes=4, days=5, port=8123, now=NOW)
    assert school.events > 40 * 5  # a deposit (and mostly a collection) a pupil a day
    assert class_names(4) == ["5A", "5B", "6A", "6B"]
    assert school_days(NOW.date(), 5)[-1].isoformat() == "2026-03-09"
    assert (tmp_path / "school" / "config.toml").exists()
    from kiosk.config import load_config

    config = load_config(school.config_path)
    database = Database(school.url)
    try:
        with database.session() as session:
            rows = pupil_states(session, config, now=NOW)["pupils"]
    finally:
        database.dispose()
    assert len(rows) == 40 and {row["class"] for row in rows} == {"5A", "5B", "6A", "6B"}
    states = [row["state"] for row in rows]
    assert states.count("in_locker") == 36  # nine in ten handed in today
    assert all(row["allowed"] and row["has_card"] for row in rows)


def test_bench_school_prints_every_figure_and_keeps_the_school(tmp_path):
    keep = tmp_path / "kept"
    result = run_cli(
        tmp_path / "unused.toml", "bench", "school", "--pupils", "40", "--classes", "2",
        "--days", "2", "--requests", "5", "--poll-seconds", "5", "--taps", "20",
        "--keep", str(keep), timeout=300,
    )
    for label in ("Today, office", "/api/today, unchanged", "Today, teacher",
                  "Today, office opens a class", "Pupil page",
                  "Today, office, a tap before each", "/api/today, full, a tap before each",
                  "Pupils list", "/api/today after one tap", "History CSV, whole year",
                  "events --since <month> --json", "web RSS after", "one open Today tab",
                  "tap to lock pin", "ratio", "target", "machine:"):
        assert label in result.stdout, label
    status = run_cli(keep / "config.toml", "status", "--json")
    assert len(json.loads(status.stdout)["pupils"]) == 40
    assert Path(keep / "phonelocker.db").exists()
