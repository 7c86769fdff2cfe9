"""Throughput and latency from the services' Prometheus metrics, drawn as small SVG charts.

Only the text exposition format is read (`name{label="v"} value`); each API process serves its
own counters. `services.console.rates` turns readings of one process into rates over time, drawn
here as step charts; the bar charts show the rates of the latest interval per endpoint and status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

from services.console.svg import clip, svg, text

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    """One line of the exposition: a metric name, its labels and its value."""

    name: str
    labels: dict[str, str]
    value: float


def parse(exposition: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition (comments and malformed lines skipped)."""
    samples = []
    for line in exposition.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        samples.append(Sample(match.group(1), dict(LABEL.findall(match.group(2) or "")), value))
    return samples


def bar_chart(rows: list[tuple[str, float]], label: str, unit: str = "", limit: int = 8) -> Markup:
    """Horizontal bars, one per row (the `limit` largest), with their values written out."""
    rows = rows[:limit]
    if not rows:
        return Markup('<p class="muted">No figures yet.</p>')
    top = max(value for _, value in rows) or 1
    bar_x, bar_w, row_h = 190, 220, 22
    body = []
    for index, (name, value) in enumerate(rows):
        y = 6 + index * row_h
        width = max(1.0, bar_w * value / top)
        shown = f"{value:,.0f}" if float(value).is_integer() else _shown(value)
        body.append(text(bar_x - 8, y + 14, clip(name, 28), "bar-label", anchor="end"))
        body.append(f'<rect class="bar" x="{bar_x}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" rx="2"/>')
        body.append(text(bar_x + width + 6, y + 14, f"{shown}{unit}", "bar-value", anchor="start"))
    return svg(bar_x + bar_w + 80, 12 + len(rows) * row_h, body, label, "chart")


def clock(epoch: float) -> str:
    """An epoch time as HH:MM:SS UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def _shown(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}" if value < 1 else f"{value:.1f}"


def step_chart(series: dict[str, list[tuple[float, float, float | None]]], label: str, unit: str) -> Markup:
    """Values over time as steps, one line per series: each (start, end, value) holds from start to end.

    Readings come at uneven times (whenever an operator looks), so a value is drawn across the whole
    interval it is the rate of rather than at a point.
    """
    segments = [(name, s) for name, rows in series.items() for s in rows if s[2] is not None]
    if not segments:
        return Markup('<p class="muted">No figures yet.</p>')
    first = min(s[0] for _, s in segments)
    last = max(s[1] for _, s in segments)
    top = max(s[2] for _, s in segments) * 1.15 or 1.0
    left, width, height, bottom = 52, 340, 110, 22

    def x(t: float) -> float:
        return left + width * (t - first) / ((last - first) or 1)

    def y(v: float) -> float:
        return 8 + height * (1 - v / top)

    body = [f'<line class="axis" x1="{left}" y1="{y(0):.1f}" x2="{left + width}" y2="{y(0):.1f}"/>',
            f'<line class="axis" x1="{left}" y1="8" x2="{left}" y2="{y(0):.1f}"/>',
            text(left - 4, 18, f"{_shown(top / 1.15)}{unit}", "axis-label", anchor="end"),
            text(left - 4, y(0) + 4, f"0{unit}", "axis-label", anchor="end"),
            text(left, y(0) + 16, clock(first), "axis-label", anchor="start"),
            text(left + width, y(0) + 16, f"{clock(last)} UTC", "axis-label", anchor="end")]
    for index, (name, rows) in enumerate(series.items()):
        path, previous_end = [], None
        for start, end, value in rows:
            if value is None:
                previous_end = None
                continue
            move = "L" if previous_end is not None and abs(previous_end - start) < 1e-6 else "M"
            path.append(f"{move}{x(start):.1f},{y(value):.1f} L{x(end):.1f},{y(value):.1f}")
            previous_end = end
        if path:
            body.append(f'<path class="line line-{index % 4}" d="{" ".join(path)}"><title>{escape(name)}</title></path>')
    values = [s[2] for _, s in segments]
    latest = max(segments, key=lambda item: item[1][1])[1][2]
    summary = (f"{label}: latest {_shown(latest)}{unit}, peak {_shown(max(values))}{unit}, "
               f"{clock(first)} to {clock(last)} UTC")
    return svg(left + width + 10, 8 + height + bottom, body, summary, "chart line-chart")
