"""Percentiles, latency summaries, the step search over offered rates and the report lag: plain numbers."""

import math

from bench.stats import latency_summary, percentile, rate, report_lag, step_search


def test_percentile_by_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3, 1, 2], 0) == 1
    assert math.isnan(percentile([], 50))


def test_latency_summary_counts_missing_events_as_infinitely_late():
    summary = latency_summary([0.1] * 98, offered=100)
    assert summary["missing"] == 2 and summary["seen"] == 98
    assert summary["p50_ms"] == 100
    assert summary["p99_ms"] == math.inf


def test_latency_summary_of_all_events_seen():
    summary = latency_summary([i / 1000 for i in range(1, 1001)], offered=1000)
    assert summary["p95_ms"] == 950 and summary["p99_ms"] == 990 and summary["max_ms"] == 1000


def capacity(limit_rate: float):
    """A fake system whose p99 is 0.1 s up to `limit_rate` events/s and 5 s above; records the rates tried."""
    tried = []

    def measure(offered: float) -> float:
        tried.append(offered)
        return 0.1 if offered <= limit_rate else 5.0

    return measure, tried


def test_step_search_doubles_then_bisects():
    measure, tried = capacity(500)
    result = step_search(measure, start=100, limit=1.0, low=1, high=1600, max_trials=8, refine=2)
    assert tried[:4] == [100, 200, 400, 800]
    assert tried[4] == 600  # between the last pass (400) and the first failure (800)
    assert tried[5] == 500
    assert result.best == 500
    assert [r for r, _ in result.trials] == tried


def test_step_search_halves_when_the_start_fails():
    measure, tried = capacity(30)
    result = step_search(measure, start=100, limit=1.0, low=1, high=1600, max_trials=6, refine=1)
    assert tried == [100, 50, 25, 37.5]  # 37.5 (between 25 and 50) fails: 30 is the limit
    assert result.best == 25


def test_step_search_stops_at_its_bounds_and_budget():
    measure, tried = capacity(10_000)
    assert step_search(measure, 100, 1.0, low=1, high=400, max_trials=10).best == 400
    assert tried == [100, 200, 400]
    measure, tried = capacity(0)
    assert step_search(measure, 100, 1.0, low=20, high=400).best is None
    assert tried == [100, 50, 25]
    measure, tried = capacity(10_000)
    step_search(measure, 100, 1.0, low=1, high=10**9, max_trials=3)
    assert len(tried) == 3


def test_report_lag_is_how_long_the_first_unreported_message_had_been_there():
    arrivals = [10.0, 11.0, 12.0, 13.0]
    # at t=12.5 three messages had arrived, the report showed 1: the second one (t=11) waited 1.5 s
    assert report_lag([(12.5, 1)], arrivals) == 1.5
    assert report_lag([(12.5, 3), (20.0, 4)], arrivals) == 0.0
    assert report_lag([(9.0, 0), (14.0, 0), (15.0, 4)], arrivals) == 4.0
    assert report_lag([], arrivals) == 0.0


def test_rate_of_an_empty_interval_is_zero():
    assert rate(10, 0) == 0.0
    assert rate(10, 2) == 5.0
