"""Small SVG charts drawn on the server: no script, no network, no inline CSS.

Why not a charting library: pygal's output carries a ``<style>`` element and
script references, which the dashboard's Content-Security-Policy
(``style-src 'self'``, no inline script) would block when the SVG is inline.
These charts use only SVG presentation attributes (``fill``, ``font-size``),
which CSP does not govern, so the same markup works on the page, in the
standalone HTML file and on paper.

Every chart has ``role="img"``, a ``<title>`` and a ``<desc>`` (its text
alternative); the report puts the same numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 36, 64
FONT = 'font-family="system-ui, sans-serif"'
#: colour-blind-safe (Okabe-Ito), and distinct in greyscale print
PALETTE = ("#0072B2", "#56B4E9", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#999999")
MAX_LABELS = 13


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str


def series(names_values: Sequence[tuple[str, Sequence[float | None]]]) -> list[Series]:
    """Series with the palette's colours in order."""
    return [Series(name, values, PALETTE[i % len(PALETTE)])
            for i, (name, values) in enumerate(names_values)]


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _frame(chart_id: str, title: str, desc: str, body: list[str], height: int = HEIGHT
           ) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" {FONT}>'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _axis(maximum: float, unit: str) -> list[str]:
    """Horizontal grid lines and labels for 0..maximum, five steps."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for step in range(6):
        value = maximum * step / 5
        y = TOP + plot_h - plot_h * step / 5
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#d0d7de" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#333333">{_number(value)}{escape(unit)}</text>')
    return parts


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    every = max(1, -(-len(labels) // MAX_LABELS))
    y = HEIGHT - BOTTOM + 14
    parts = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + slot * (i + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="end" font-size="11" fill="#333333" '
                     f'transform="rotate(-35 {x:.1f} {y})">{escape(label)}</text>')
    return parts


def _legend(items: Sequence[Series]) -> list[str]:
    parts, x = [], LEFT
    for item in items:
        parts.append(f'<rect x="{x}" y="10" width="12" height="12" fill="{item.colour}"/>')
        parts.append(f'<text x="{x + 16}" y="20" font-size="12" fill="#111111">'
                     f'{escape(item.name)}</text>')
        x += 28 + 7 * len(item.name)
    return parts


def _nice_max(values: Sequence[float]) -> float:
    top = max([v for v in values if v is not None] or [0])
    if top <= 0:
        return 5
    for nice in (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if top <= nice:
            return nice
    return float(top)


def stacked_bars(chart_id: str, title: str, desc: str, labels: Sequence[str],
                 items: Sequence[Series], *, unit: str = "%", maximum: float | None = None
                 ) -> Markup:
    """One bar per label, the series stacked in order (e.g. shares adding up to 100 %)."""
    totals = [sum(s.values[i] or 0 for s in items) for i in range(len(labels))]
    top = maximum if maximum is not None else _nice_max(totals)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar = slot * 0.7
    body = _axis(top, unit)
    for i in range(len(labels)):
        y = TOP + plot_h
        for item in items:
            value = item.values[i] or 0
            height = plot_h * min(value, top) / top
            y -= height
            if height > 0:
                body.append(
                    f'<rect x="{LEFT + slot * i + (slot - bar) / 2:.1f}" y="{y:.1f}" '
                    f'width="{bar:.1f}" height="{height:.1f}" fill="{item.colour}">'
                    f'<title>{escape(labels[i])}: {escape(item.name)} {_number(value)}'
                    f'{escape(unit)}</title></rect>')
    body += _x_labels(labels, slot) + _legend(items)
    return _frame(chart_id, title, desc, body)


def grouped_bars(chart_id: str, title: str, desc: str, labels: Sequence[str],
                 items: Sequence[Series], *, unit: str = "") -> Markup:
    """Side-by-side bars per label, one per series (e.g. counts per week)."""
    top = _nice_max([v for s in items for v in s.values if v is not None])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar = slot * 0.8 / max(1, len(items))
    body = _axis(top, unit)
    for i in range(len(labels)):
        for j, item in enumerate(items):
            value = item.values[i] or 0
            height = plot_h * min(value, top) / top
            if height > 0:
                x = LEFT + slot * i + slot * 0.1 + bar * j
                body.append(
                    f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar:.1f}" '
                    f'height="{height:.1f}" fill="{item.colour}"><title>{escape(labels[i])}: '
                    f'{escape(item.name)} {_number(value)}{escape(unit)}</title></rect>')
    body += _x_labels(labels, slot) + _legend(items)
    return _frame(chart_id, title, desc, body)


def horizontal_bars(chart_id: str, title: str, desc: str, labels: Sequence[str],
                    values: Sequence[float]) -> Markup:
    """One horizontal bar per label, the value written at its end (e.g. refusals by reason)."""
    label_w, row = 260, 26
    height = TOP + row * max(1, len(labels)) + 12
    top = _nice_max(values)
    plot_w = WIDTH - label_w - RIGHT - 40
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * i
        width = plot_w * value / top
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12" '
                    f'fill="#111111">{escape(label)}</text>')
        body.append(f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row - 8}" '
                    f'fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 16}" font-size="12" '
                    f'fill="#111111">{_number(value)}</text>')
    return _frame(chart_id, title, desc, body, height)
