"""``phonelocker calendar …`` through the real console script: the CLI contract."""

from __future__ import annotations

import json
import sqlite3

from .calendar_helpers import local_now, midday_zone
from .conftest import run_cli, write_config

KEYS = {"date", "closed", "collect_from", "reason"}


def listed(config_file) -> list[dict]:
    return json.loads(run_cli(config_file, "calendar", "list", "--json").stdout)


def audit(config_file, kind: str) -> list[tuple]:
    path = config_file.parent / "phonelocker.db"
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT actor, reason FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()


def test_set_list_clear(tmp_path):
    config_file = write_config(tmp_path)
    run_cli(config_file, "db", "upgrade")
    assert listed(config_file) == []
    assert "every day follows [policy]" in run_cli(config_file, "calendar", "list").stdout
    out = run_cli(config_file, "calendar", "set", "2026-12-18", "--collect-from", "13:30",
                  "--reason", "last day of term", "--by", "Mrs Office").stdout
    assert out == "set Friday 18 December 2026: collection from 13:30 (last day of term)\n"
    run_cli(config_file, "calendar", "set", "2027-01-04", "--closed", "--reason", "INSET day")
    rows = listed(config_file)
    assert [{k: r[k] for k in KEYS} for r in rows] == [
        {"date": "2026-12-18", "closed": False, "collect_from": "13:30",
         "reason": "last day of term"},
        {"date": "2027-01-04", "closed": True, "collect_from": None, "reason": "INSET day"},
    ]
    assert rows[0]["set_by"] == "Mrs Office"
    text = run_cli(config_file, "calendar", "list").stdout
    assert "2027-01-04  Monday 4 January 2027: school closed (INSET day)" in text
    run_cli(config_file, "calendar", "clear", "2026-12-18")
    assert [r["date"] for r in listed(config_file)] == ["2027-01-04"]
    actors = [actor for actor, _ in audit(config_file, "calendar_set")]
    assert actors[0] == "Mrs Office" and actors[1].startswith("cli:")  # --by, else the login
    assert len(audit(config_file, "calendar_cleared")) == 1


def test_bad_input_is_one_clear_line_and_changes_nothing(tmp_path):
    config_file = write_config(tmp_path)
    run_cli(config_file, "db", "upgrade")
    cases = [
        (("2026-12-18", "--closed", "--collect-from", "13:00", "--reason", "x"), 2,
         "exactly one of --closed and --collect-from"),
        (("2026-12-18", "--reason", "x"), 2, "exactly one of --closed and --collect-from"),
        (("2026-02-30", "--closed", "--reason", "x"), 2, "is not a date YYYY-MM-DD"),
        (("2026-12-18", "--collect-from", "25:00", "--reason", "x"), 1,
         "'25:00' is not a time HH:MM"),
        (("2026-12-18", "--closed", "--reason", "  "), 1, "a reason is required"),
    ]
    for args, code, message in cases:
        result = run_cli(config_file, "calendar", "set", *args, check=False)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    cleared = run_cli(config_file, "calendar", "clear", "2026-12-18", check=False)
    assert cleared.returncode == 1
    assert cleared.stderr == "phonelocker: nothing is set for 2026-12-18\n"
    assert listed(config_file) == []
    assert audit(config_file, "calendar_set") == []


def test_import_is_all_or_nothing(tmp_path):
    config_file = write_config(tmp_path)
    run_cli(config_file, "db", "upgrade")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,closed,collect_from,reason\n2026-12-18,no,13:30,last day\n"
                   "2026-12-19,maybe,,x\n2026-12-20,yes,10:00,y\n", encoding="utf-8")
    result = run_cli(config_file, "calendar", "import", str(bad), check=False)
    assert result.returncode == 1
    assert "  line 3: closed must be yes or no, got 'maybe'" in result.stderr
    assert "  line 4: a closed day has no collection time" in result.stderr
    assert "2 problem(s) in the file, nothing imported" in result.stderr
    assert listed(config_file) == []
    good = tmp_path / "year.csv"
    good.write_text("date,closed,collect_from,reason\n2026-12-18,no,13:30,last day of term\n"
                    "2027-01-04,yes,,INSET day\n", encoding="utf-8")
    assert run_cli(config_file, "calendar", "import", str(good)).stdout == (
        "imported 2 date(s) from year.csv\n")
    assert [(r["date"], r["collect_from"]) for r in listed(config_file)] == [
        ("2026-12-18", "13:30"), ("2027-01-04", None)]


def test_close_early_sets_collection_from_now_and_status_says_so(tmp_path):
    zone = midday_zone()
    config_file = write_config(tmp_path, f'[policy]\ncollect_from = "23:59"\n'
                                         f'timezone = "{zone}"\n')
    run_cli(config_file, "db", "upgrade")
    before = local_now(zone)
    out = run_cli(config_file, "calendar", "close-early", "--reason", "snow", "--by",
                  "Mrs Office").stdout
    after = local_now(zone)
    minutes = {before.strftime("%H:%M"), after.strftime("%H:%M")}
    shown = out.removeprefix("school closing early: collection from ")[:5]
    assert shown in minutes and out.endswith(" today (snow)\n")
    document = json.loads(run_cli(config_file, "status", "--json").stdout)
    assert document["collection_time"] == shown
    assert document["calendar"]["closing_early"] is True
    assert document["calendar"]["reason"] == "snow"
    text = run_cli(config_file, "status").stdout
    assert f"  collection from {shown} today: snow\n" in text
    assert audit(config_file, "closing_early") == [
        ("Mrs Office", f"school closing early: collection from {shown} (snow)")]
    again = run_cli(config_file, "calendar", "close-early", "--reason", "snow", check=False)
    assert again.returncode == 1 and "collection is already open today" in again.stderr


def test_status_on_a_closed_day_has_nobody_not_handed_in(tmp_path):
    zone = midday_zone()
    config_file = write_config(tmp_path, f'[policy]\ntimezone = "{zone}"\n')
    run_cli(config_file, "db", "upgrade")
    run_cli(config_file, "pupils", "add", "--name", "Amara Okafor", "--year", "6", "--class",
            "6K")
    today = local_now(zone).date().isoformat()  # about midday there: not about to change
    run_cli(config_file, "calendar", "set", today, "--closed", "--reason", "INSET day")
    document = json.loads(run_cli(config_file, "status", "--json").stdout)
    assert document["date"] == today and document["collection_time"] is None
    assert [p["state"] for p in document["pupils"]] == ["school_closed"]
    text = run_cli(config_file, "status").stdout
    assert "  school closed: INSET day\n" in text and "no school today" in text
    assert "not handed in" not in text
