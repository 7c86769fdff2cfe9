"""Pure arithmetic of the benchmark: percentiles, the step search over offered rates, report lag.

Nothing here reads a clock or does I/O, so tests/unit/bench checks it with plain numbers.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `values` by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def latency_summary(latencies: Sequence[float], offered: int) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds over `offered` events; an event never seen counts as infinitely late."""
    missing = max(0, offered - len(latencies))
    values = list(latencies) + [math.inf] * missing
    return {"offered": offered, "seen": len(latencies), "missing": missing,
            **{f"p{q}_ms": percentile(values, q) * 1000 for q in (50, 95, 99)},
            "max_ms": (max(values) * 1000) if values else float("nan")}


@dataclass
class SearchResult:
    """The outcome of a step search: the highest passing rate (None if none passed) and every trial."""

    best: float | None
    trials: list[tuple[float, float]] = field(default_factory=list)  # (offered rate, measured value)


def step_search(measure: Callable[[float], float], start: float, limit: float, low: float, high: float,
                max_trials: int = 6, refine: int = 2) -> SearchResult:
    """Highest rate whose `measure(rate)` stays below `limit`, by doubling/halving from `start`, then bisecting.

    `measure` is called at most `max_trials` times, never below `low` nor above `high`; `refine`
    bisection steps between the highest pass and the lowest failure follow the doubling phase.
    """
    result = SearchResult(best=None)
    passed: float | None = None
    failed: float | None = None

    def trial(rate: float) -> bool:
        value = measure(rate)
        result.trials.append((rate, value))
        return value < limit

    rate = start
    while len(result.trials) < max_trials:
        if trial(rate):
            passed = rate if passed is None else max(passed, rate)
            if failed is not None or rate * 2 > high:
                break
            rate *= 2
        else:
            failed = rate if failed is None else min(failed, rate)
            if passed is not None or rate / 2 < low:
                break
            rate /= 2
    for _ in range(refine):
        if passed is None or failed is None or len(result.trials) >= max_trials or failed / passed < 1.15:
            break
        rate = round((passed + failed) / 2, 1)
        if trial(rate):
            passed = rate
        else:
            failed = rate
    result.best = passed
    return result


def report_lag(samples: Sequence[tuple[float, int]], arrivals: Sequence[float]) -> float:
    """The longest time a report sample lagged the sinks, in seconds.

    `samples` are (time, sent count the report showed); `arrivals` the sorted times messages reached
    the sinks. A report showing n sent at time t is behind by t minus the arrival time of the
    (n+1)-th message when that message had arrived by t, else it is up to date (lag 0).
    """
    worst = 0.0
    for at, sent in samples:
        arrived_by_then = bisect.bisect_right(arrivals, at)
        if sent < arrived_by_then:
            worst = max(worst, at - arrivals[sent])
    return worst


def rate(count: float, seconds: float) -> float:
    """`count` per second, 0 for an empty interval."""
    return count / seconds if seconds > 0 else 0.0
