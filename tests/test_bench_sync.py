"""``phonelocker bench sync``: run tiny, it prints every figure of issue 10 with its target.
Nothing about timing is asserted; that every queued event arrived is."""

from __future__ import annotations

import json

from kiosk.school.pupils import add_pupil
from kiosk.store.db import Database

from .conftest import run_cli

TINY = ("--pupils", "40", "--taps", "3", "--changes", "2", "--catch-up", "150",
        "--ratio-taps", "20", "--idle-seconds", "1")


def test_bench_sync_prints_every_figure(tmp_path):
    result = run_cli(tmp_path / "unused.toml", "bench", "sync", *TINY, timeout=300)
    for label in ("tap -> visible on the central database", "tap -> kiosk's own database",
                  "central change -> kiosk's database", "catch-up of 150 queued events",
                  "150 arrived", "tap path ratio, central reachable",
                  "tap path ratio, central unreachable", "tap path ratio, no [central]",
                  "kiosk RSS with sync on", "without [central]", "idle connected kiosk CPU",
                  "x no [central]", "p95 ≤ 2 s", "≤ 30 s", "≤ 60 MB", "adds ≤ 1 %", "sync adds",
                  "40 pupils with cards", "machine:"):
        assert label in result.stdout, label


def test_bench_sync_json_on_a_given_central_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'central.db'}"
    result = run_cli(tmp_path / "unused.toml", "bench", "sync", "--url", url, "--json", *TINY,
                     timeout=300)
    figures = json.loads(result.stdout)
    assert figures["central"] == url
    assert figures["catch_up"]["all_arrived"] and figures["catch_up"]["arrived"] == 150
    assert figures["kiosk"]["tap_visible"]["n"] == 3
    assert figures["kiosk"]["change_kiosk"]["n"] == 2
    assert figures["ratio"]["reachable"]["worker_connected"] is True
    assert figures["ratio"]["unreachable"]["worker_connected"] is False
    assert figures["ratio"]["absent"]["worker_connected"] is None
    assert (tmp_path / "central.db").exists()  # the given database is kept


def test_bench_sync_refuses_a_database_in_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'school.db'}"
    school = Database(url)
    school.upgrade()
    with school.session() as session:
        add_pupil(session, name="Real Pupil", year=6, class_name="6K", actor="office")
        session.commit()
    school.dispose()
    result = run_cli(tmp_path / "unused.toml", "bench", "sync", "--url", url, *TINY,
                     check=False)
    assert result.returncode != 0
    assert "is not empty: give bench sync an empty database" in result.stderr
    school = Database(url)
    try:
        with school.session() as session:
            from sqlalchemy import func, select

            from kiosk.store.models import Pupil

            assert session.scalar(select(func.count()).select_from(Pupil)) == 1
    finally:
        school.dispose()
