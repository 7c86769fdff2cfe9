#!/usr/bin/env python3
"""Before/after table of two `bench/run --json` files.

    .venv/bin/python -m bench.compare before.json after.json [--all]

Every numeric figure present in either file gets a row: its dotted path, the two values and the
ratio after/before. Without --all, only the headline figures (rates, latencies, CPU, idle, RSS).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

HEADLINE = ("baseline.rate", "sink.ceiling_per_s", "import.", "broadcast.", "cpu_per_send_ms.", "latency.",
            "step_search.best_rate", "idle.", "events_batch.", "report.", "rss_max_mb.", "wall_seconds")


def flatten(figures: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested dicts by dotted path (booleans and lists left out)."""
    flat: dict[str, float] = {}
    for key, value in figures.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[path] = float(value)
    return flat


def compare_rows(before: Mapping[str, Any], after: Mapping[str, Any],
                 only: Iterable[str] | None = HEADLINE) -> list[tuple[str, float | None, float | None, float | None]]:
    """(path, before, after, after/before) for every numeric figure of either run, in path order."""
    a, b = flatten(before), flatten(after)
    prefixes = tuple(only) if only is not None else None
    rows = []
    for path in sorted(set(a) | set(b)):
        if prefixes is not None and not path.startswith(prefixes):
            continue
        x, y = a.get(path), b.get(path)
        ratio = y / x if x not in (None, 0.0) and y is not None and math.isfinite(x) and math.isfinite(y) else None
        rows.append((path, x, y, ratio))
    return rows


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def format_table(rows: list[tuple[str, float | None, float | None, float | None]],
                 names: tuple[str, str] = ("before", "after")) -> str:
    """The rows as an aligned text table."""
    header = ("figure", names[0], names[1], "after/before")
    cells = [header] + [(path, _cell(x), _cell(y), "-" if r is None else f"{r:.2f}x") for path, x, y, r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--all", action="store_true", help="every numeric figure, not only the headline ones")
    args = parser.parse_args()
    with open(args.before) as a, open(args.after) as b:
        before, after = json.load(a), json.load(b)
    print(format_table(compare_rows(before, after, None if args.all else HEADLINE)))


if __name__ == "__main__":
    main()
