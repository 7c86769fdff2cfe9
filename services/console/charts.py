"""Throughput and latency from the services' Prometheus metrics, drawn as small SVG bar charts.

Only the text exposition format is read (`name{label="v"} value`); each API process serves its
own counters, so the figures are those of the replica that answered.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

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


def requests_by_endpoint(samples: list[Sample]) -> list[tuple[str, float]]:
    """HTTP requests served per endpoint (all statuses), most first."""
    totals: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == "touchpoint_http_requests_total":
            totals[s.labels.get("endpoint", "?")] += s.value
    return sorted(totals.items(), key=lambda item: -item[1])


def errors_by_status(samples: list[Sample]) -> list[tuple[str, float]]:
    """HTTP answers per status code."""
    totals: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == "touchpoint_http_requests_total":
            totals[s.labels.get("status", "?")] += s.value
    return sorted(totals.items())


def mean_latency_ms(samples: list[Sample]) -> list[tuple[str, float]]:
    """Mean request latency per endpoint in milliseconds (histogram sum / count), slowest first."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == "touchpoint_http_request_seconds_sum":
            sums[s.labels.get("endpoint", "?")] += s.value
        elif s.name == "touchpoint_http_request_seconds_count":
            counts[s.labels.get("endpoint", "?")] += s.value
    means = [(endpoint, 1000 * sums[endpoint] / n) for endpoint, n in counts.items() if n]
    return sorted(means, key=lambda item: -item[1])


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
        shown = f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:.1f}"
        body.append(text(bar_x - 8, y + 14, clip(name, 28), "bar-label", anchor="end"))
        body.append(f'<rect class="bar" x="{bar_x}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" rx="2"/>')
        body.append(text(bar_x + width + 6, y + 14, f"{shown}{unit}", "bar-value", anchor="start"))
    return svg(bar_x + bar_w + 80, 12 + len(rows) * row_h, body, label, "chart")
