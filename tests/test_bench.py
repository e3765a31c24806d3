"""``phonelocker bench``: it runs, reports sane figures and leaves no kiosk behind.

No timing thresholds are asserted: the machines that run the tests are noisy.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.cli.main import cli
from kiosk.devtools.bench_report import format_table
from kiosk.devtools.measure import percentile

POSITIVE = {
    "tap": ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"),
    "tap_return": ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"),
    "bare_sqlite": ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"),
    "ratio": ("p50", "p99"),
    "idle": ("seconds", "rss_mb", "peak_rss_mb"),
    "ready": ("median_s", "min_s", "max_s", "stop_median_s"),
}


def numbers(value):
    """Every number in a JSON document."""
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def children_of(pid: int) -> set[int]:
    """Child processes of ``pid``, zombies included (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def test_percentile_interpolates():
    assert percentile([1.0], 99) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 99) == 99.0


@pytest.mark.slow
def test_bench_json_has_sane_figures_and_stops_its_kiosks():
    before = children_of(os.getpid())
    result = CliRunner().invoke(
        cli, ["bench", "--taps", "100", "--idle-seconds", "1", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)

    for section, keys in POSITIVE.items():
        for key in keys:
            value = figures[section][key]
            assert math.isfinite(value) and value > 0, (section, key, value)
    assert all(math.isfinite(n) for n in numbers(figures))
    assert figures["idle"]["cpu_percent"] >= 0

    tap = figures["tap"]
    assert tap["taps"] == 100
    assert tap["synchronous_unlock"] is True
    assert sum(tap["actions"].values()) == 100
    assert set(tap["actions"]) == {"deposit", "collect"}
    assert tap["events_committed"] == tap["taps"] + tap["warmup"]
    assert figures["bare_sqlite"]["iterations"] == 100
    assert len(figures["ready"]["samples_s"]) == figures["ready"]["runs"] == 5
    assert figures["ready"]["exit_codes"] == [0] * 5
    assert figures["idle"]["exit_code"] == 0
    assert set(figures["meets"]) == set(figures["targets"])
    for key in ("arch", "cpu", "nproc", "python"):
        assert figures["machine"][key]

    # Every kiosk was reaped: none is left running, nor as a zombie (a pid being
    # reused by some other process is why "not a child of ours" is the test).
    left = children_of(os.getpid()) - before
    assert not left & {*figures["ready"]["pids"], figures["idle"]["pid"]}
    assert not left, f"child processes left behind: {left}"

    table = format_table(figures)
    assert "tap -> lock energised p99" in table and "start -> READY=1 median" in table
