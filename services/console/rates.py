"""Rates over time from the services' Prometheus counters: the last scrapes kept per process.

A counter alone says "how many since the process started"; a rate needs two readings of the same
process. The console keeps the last `keep` readings of every API process it scraped (in memory,
per console process: it owns no data) and turns each pair of consecutive readings into an
interval: requests per second, server errors (5xx) per second, mean latency (Δ sum / Δ count) and
per-endpoint and per-status rates. A process seen once has one interval already, from its start
(`process_start_time_seconds`, when all its counters were zero) to now.

Which process answered is told by `process_start_time_seconds` (the only per-process figure the
default exposition has, in clock ticks of 10 ms). Two workers forked in the same tick look like
one process; when a counter of "one process" then goes down, that is no rate: the series starts
again from that reading instead of drawing a wrong one.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from services.console.charts import Sample

REQUESTS = "touchpoint_http_requests_total"
LATENCY_SUM = "touchpoint_http_request_seconds_sum"
LATENCY_COUNT = "touchpoint_http_request_seconds_count"
START = "process_start_time_seconds"
SCRAPE_ENDPOINT = "health.metrics"  # the console's own scrapes are left out of the figures


@dataclass(frozen=True)
class Reading:
    """The counters of one process at one moment."""

    at: float
    process: str
    started: float | None
    by_endpoint: dict[str, float]
    by_status: dict[str, float]
    latency_sum: float
    latency_count: float

    @property
    def total(self) -> float:
        """Every request counted (the console's scrapes excluded)."""
        return sum(self.by_endpoint.values())

    @property
    def server_errors(self) -> float:
        """Answers with a 5xx status."""
        return sum(v for status, v in self.by_status.items() if status.startswith("5"))


@dataclass(frozen=True)
class Interval:
    """What one process did between two readings."""

    start: float
    end: float
    process: str
    requests_per_second: float
    errors_per_second: float
    mean_latency_ms: float | None
    endpoint_rates: dict[str, float] = field(default_factory=dict)
    status_rates: dict[str, float] = field(default_factory=dict)


def reading(samples: list[Sample], at: float) -> Reading:
    """The counters of an exposition read at `at` (epoch seconds)."""
    by_endpoint: dict[str, float] = defaultdict(float)
    by_status: dict[str, float] = defaultdict(float)
    latency_sum = latency_count = 0.0
    started = None
    for s in samples:
        endpoint = s.labels.get("endpoint", "?")
        if s.name == START:
            started = s.value
        elif endpoint == SCRAPE_ENDPOINT:
            continue
        elif s.name == REQUESTS:
            by_endpoint[endpoint] += s.value
            by_status[s.labels.get("status", "?")] += s.value
        elif s.name == LATENCY_SUM:
            latency_sum += s.value
        elif s.name == LATENCY_COUNT:
            latency_count += s.value
    process = f"{started:.2f}" if started is not None else "unknown"
    return Reading(at, process, started, dict(by_endpoint), dict(by_status), latency_sum, latency_count)


def _went_down(before: Reading, after: Reading) -> bool:
    pairs = [(before.latency_sum, after.latency_sum), (before.latency_count, after.latency_count)]
    pairs += [(v, after.by_endpoint.get(k, 0.0)) for k, v in before.by_endpoint.items()]
    pairs += [(v, after.by_status.get(k, 0.0)) for k, v in before.by_status.items()]
    return any(now < then for then, now in pairs)


def _per_second(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: (v - before.get(k, 0.0)) / seconds for k, v in after.items() if v - before.get(k, 0.0) > 0}


def interval(before: Reading, after: Reading) -> Interval:
    """The rates between two readings of one process."""
    seconds = max(after.at - before.at, 1e-3)
    count = after.latency_count - before.latency_count
    latency = 1000 * (after.latency_sum - before.latency_sum) / count if count > 0 else None
    return Interval(before.at, after.at, after.process, (after.total - before.total) / seconds,
                    (after.server_errors - before.server_errors) / seconds, latency,
                    _per_second(before.by_endpoint, after.by_endpoint, seconds),
                    _per_second(before.by_status, after.by_status, seconds))


def _from_start(first: Reading) -> Reading | None:
    """A reading of all zeros at the process's start, if the start is known and before `first`."""
    if first.started is None or first.started >= first.at:
        return None
    return Reading(first.started, first.process, first.started, {}, {}, 0.0, 0.0)


class History:
    """The last `keep` readings per (service, process), shared by the console's threads."""

    def __init__(self, keep: int = 60, processes: int = 4) -> None:
        self.keep = keep
        self.processes = processes
        self._lock = threading.Lock()
        self._readings: dict[str, dict[str, deque[Reading]]] = defaultdict(dict)

    def add(self, service: str, samples: list[Sample], at: float) -> Reading:
        """Keep a new reading of `service` (the process that answered is in the samples)."""
        new = reading(samples, at)
        with self._lock:
            kept = self._readings[service]
            series = kept.get(new.process)
            if series is None or (series and _went_down(series[-1], new)):
                series = kept[new.process] = deque(maxlen=self.keep)
            series.append(new)
            # forget the processes not heard from for longest (restarted workers)
            for stale in sorted(kept, key=lambda p: kept[p][-1].at)[:-self.processes]:
                del kept[stale]
        return new

    def intervals(self, service: str) -> dict[str, list[Interval]]:
        """Per process (newest first), its intervals oldest first; one from its start if read only once."""
        with self._lock:
            kept = {process: list(series) for process, series in self._readings.get(service, {}).items()}
        found: dict[str, list[Interval]] = {}
        for process, series in sorted(kept.items(), key=lambda item: -item[1][-1].at):
            if len(series) == 1:
                origin = _from_start(series[0])
                series = [origin, *series] if origin else series
            found[process] = [interval(a, b) for a, b in zip(series, series[1:], strict=False)]
        return found
