"""``phonelocker bench import``: it runs real imports and reports each phase's figures.

No timing thresholds are asserted: the machines that run the tests are noisy.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from click.testing import CliRunner

from kiosk.cli.main import cli
from kiosk.devtools.bench_import import export_csv
from kiosk.school.pupil_csv import parse_pupils_csv


def test_the_generated_exports_are_valid_and_the_variant_changes_some_pupils():
    first = parse_pupils_csv(export_csv(100))
    again = parse_pupils_csv(export_csv(100, variant=True))
    assert first.ok and again.ok and len(first.rows) == len(again.rows) == 100
    changed = [a.row for a, b in zip(first.rows, again.rows, strict=True)
               if (a.class_name, a.card_uid) != (b.class_name, b.card_uid)]
    assert len(changed) == 10  # rows 0, 10, 20 ... moved; 0, 20, 40 ... also re-carded


def test_bench_import_json_reports_each_phase_and_cleans_up():
    scratch = set(Path(tempfile.gettempdir()).glob("phonelocker-bench-import-*"))
    result = CliRunner().invoke(
        cli, ["bench", "import", "--rows", "200", "--rows", "50", "--runs", "2", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [size["rows"] for size in document["imports"]] == [200, 50]
    big = document["imports"][0]
    assert big["runs"] == 2 and big["target_write_s"] is None
    assert (big["new"]["created"], big["new"]["updated"]) == (200, 0)
    assert (big["reimport"]["created"], big["reimport"]["updated"]) == (0, 20)
    for scenario in ("new", "reimport"):
        figures = big[scenario]
        assert min(figures["check_s"], figures["prepare_s"], figures["write_s"]) > 0
        assert 0 <= figures["longest_wait_s"] <= figures["max_longest_wait_s"]
    assert set(Path(tempfile.gettempdir()).glob("phonelocker-bench-import-*")) == scratch


def test_bench_import_table_names_the_targets():
    result = CliRunner().invoke(cli, ["bench", "import", "--rows", "2000", "--runs", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2000  new" in result.output and "2000  reimport" in result.output
    assert "<= 0.5 s: " in result.output and "longest wait s" in result.output
