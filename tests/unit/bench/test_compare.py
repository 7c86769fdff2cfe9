"""The before/after table of two benchmark JSON files."""

import math

from bench.compare import compare_rows, flatten, format_table

BEFORE = {"meta": {"commit": "abc", "load_average_start": [1.0, 2.0, 3.0]},
          "broadcast": {"sends_per_s": 100.0, "complete": True, "outcomes": {"send": 20000}},
          "cpu_per_send_ms": {"channels-worker": 20.0, "touchpoint_total": 40.0},
          "latency": {"fixed": {"p99_ms": math.inf}}}
AFTER = {"broadcast": {"sends_per_s": 2500.0, "complete": True, "outcomes": {"send": 20000}},
         "cpu_per_send_ms": {"channels-worker": 0.5, "touchpoint_total": 1.0, "gate-worker": 0.2},
         "latency": {"fixed": {"p99_ms": 120.0}}}


def test_flatten_keeps_numbers_by_path_and_drops_flags_and_text():
    flat = flatten(BEFORE)
    assert flat["broadcast.sends_per_s"] == 100.0
    assert flat["broadcast.outcomes.send"] == 20000
    assert "broadcast.complete" not in flat and "meta.commit" not in flat
    assert "meta.load_average_start" not in flat  # lists are left out


def test_rows_have_ratios_and_survive_missing_and_infinite_values():
    rows = {path: (a, b, r) for path, a, b, r in compare_rows(BEFORE, AFTER)}
    assert rows["broadcast.sends_per_s"] == (100.0, 2500.0, 25.0)
    assert rows["cpu_per_send_ms.touchpoint_total"][2] == 0.025
    assert rows["cpu_per_send_ms.gate-worker"] == (None, 0.2, None)
    assert rows["latency.fixed.p99_ms"][2] is None
    assert "meta.load_average_start" not in rows


def test_headline_filter_and_all():
    headline = {r[0] for r in compare_rows({"x": 1, "broadcast": {"a": 1}}, {"x": 2, "broadcast": {"a": 2}})}
    assert headline == {"broadcast.a"}
    every = {r[0] for r in compare_rows({"x": 1}, {"x": 2}, only=None)}
    assert every == {"x"}


def test_table_is_aligned_text():
    table = format_table(compare_rows(BEFORE, AFTER))
    lines = table.splitlines()
    assert lines[0].split() == ["figure", "before", "after", "after/before"]
    assert set(lines[1]) <= {"-", " "}
    row = next(line for line in lines if line.startswith("broadcast.sends_per_s"))
    assert row.split()[1:] == ["100", "2,500", "25.00x"]
    assert len({len(line) for line in lines}) == 1
