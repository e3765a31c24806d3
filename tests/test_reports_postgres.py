"""The seeded report week on PostgreSQL: the same figures (times come back as datetimes there)."""

from __future__ import annotations

import csv
import io

from kiosk.config import parse_config
from kiosk.reports.figures import build_report
from kiosk.reports.render import render_csv
from kiosk.store.db import Database
from tests.reports_seed import AFTER, EXPECTED, EXPECTED_REFUSALS, MONDAY, SUNDAY, seed_week
from tests.test_postgres import pg_url  # noqa: F401 - the fixture: a database of its own
from tests.test_reports import FIELDS


def test_seeded_week_on_postgres(pg_url):  # noqa: F811
    config = parse_config({"database": {"url": pg_url}})
    db = Database(pg_url)
    db.upgrade()
    try:
        with db.session() as session:
            seed_week(session)
            report = build_report(session, config, MONDAY, SUNDAY, now=AFTER)
    finally:
        db.dispose()

    for name, expected in EXPECTED.items():
        assert {field: getattr(report.by_class[name], field) for field in FIELDS} == expected
    assert report.refusal_totals == EXPECTED_REFUSALS
    assert len(report.overrides) == 2 and len(report.school_days) == 5
    rows = {row["class"]: row for row in csv.DictReader(io.StringIO(render_csv(report)))}
    assert rows["6K"]["percent_handed_in"] == "61.1"
