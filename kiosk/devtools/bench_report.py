"""The bench's report: which targets were met, and the human table."""

from __future__ import annotations

from typing import Any


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """``rows`` (the first a heading) as left-aligned columns, a rule under the heading."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def machine_line(result: dict[str, Any]) -> str:
    """The machine and its load, as the school and sync benches end their tables."""
    machine = result["machine"]
    return (f"machine: {machine.get('cpu', '?')}, {machine.get('nproc', '?')} CPUs, "
            f"load {result['load']}; Python {machine.get('python', '?')}")


TARGETS: dict[str, float] = {
    "ratio_p50": 2.0,
    "tap_p99_ms": 10.0,
    "idle_cpu_percent": 1.0,
    "rss_mb": 60.0,
    "ready_median_s": 1.5,
}


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
