"""CPU and memory of every process of a run, by group, sampled from /proc once a second.

Groups: each Touchpoint process (an API is its gunicorn master plus workers), the PostgreSQL
backends serving the run's databases (found in pg_stat_activity, the harness's own connections
left out by their application_name), the whole PostgreSQL server and the whole RabbitMQ node
(both shared with anything else on the machine), the SMTP sink and the harness itself.
`snapshot()` marks a point; `cpu_ms(a, b)` is each group's CPU between two marks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from bench.procfs import ProcStat, all_stats, cpu_ms_between, tree, uptime_ticks

HARNESS_APPLICATION = "touchpoint-bench"
POSTGRES_BENCH = "postgres: run's databases"
POSTGRES_SERVER = "postgres: whole server"
RABBITMQ = "rabbitmq: whole node"
SINK = "smtp sink"
HARNESS = "bench harness"
SHARED_GROUPS = (POSTGRES_SERVER, RABBITMQ)


@dataclass
class Snapshot:
    """Every group's processes at one moment."""

    uptime_ticks: int
    groups: dict[str, dict[int, ProcStat]] = field(default_factory=dict)


class ProcessSampler:
    """Samples the run's processes in a thread; keeps the latest stat of every process ever seen."""

    def __init__(self, touchpoint: Callable[[], dict[str, int]], database_prefix: str, pg_url: str,
                 sink_pids: Callable[[], list[int]], interval: float = 1.0) -> None:
        self.touchpoint = touchpoint  # name -> root pid of each Touchpoint process, asked at every sample
        self.database_prefix = database_prefix
        self.sink_pids = sink_pids
        self.interval = interval
        self.lock = threading.Lock()
        self.latest: dict[str, dict[int, ProcStat]] = {}
        self.rss_max_mb: dict[str, float] = {}
        self._engine = create_engine(pg_url, pool_size=1, connect_args={"application_name": HARNESS_APPLICATION})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        """Sample now and then every `interval` seconds."""
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(10)
        self._engine.dispose()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _postgres_backends(self) -> set[int]:
        with self._engine.connect() as conn:
            return set(conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname LIKE :p "
                "AND coalesce(application_name, '') <> :h"), {"p": self.database_prefix + "%",
                                                              "h": HARNESS_APPLICATION}).scalars())

    def sample(self) -> None:
        """Read /proc once and file every process under its group."""
        stats = all_stats()
        groups: dict[str, list[int]] = {name: tree(stats, pid) for name, pid in self.touchpoint().items()}
        try:
            groups[POSTGRES_BENCH] = [pid for pid in self._postgres_backends() if pid in stats]
        except Exception:  # noqa: BLE001 - a busy server must not end the run; the next sample tries again
            groups[POSTGRES_BENCH] = list(self.latest.get(POSTGRES_BENCH, {}))
        roots = [s.pid for s in stats.values() if s.comm in ("postgres", "beam.smp")
                 and stats.get(s.ppid, s).comm != s.comm]
        groups[POSTGRES_SERVER] = [p for r in roots if stats[r].comm == "postgres" for p in tree(stats, r)]
        groups[RABBITMQ] = [p for r in roots if stats[r].comm == "beam.smp" for p in tree(stats, r)]
        groups[SINK] = [p for pid in self.sink_pids() for p in tree(stats, pid)]
        groups[HARNESS] = [os.getpid()]
        with self.lock:
            for name, pids in groups.items():
                known = self.latest.setdefault(name, {})
                live = [stats[p] for p in pids if p in stats]
                known.update((s.pid, s) for s in live)
                if not name.startswith("postgres"):  # each backend's RSS counts the shared buffers again
                    self.rss_max_mb[name] = max(self.rss_max_mb.get(name, 0.0), sum(s.rss_mb for s in live))

    def snapshot(self) -> Snapshot:
        """Sample now and return a copy of every group's latest stats."""
        ticks = uptime_ticks()
        self.sample()
        with self.lock:
            return Snapshot(ticks, {name: dict(stats) for name, stats in self.latest.items()})

    @staticmethod
    def cpu_ms(start: Snapshot, end: Snapshot) -> dict[str, float]:
        """Each group's CPU milliseconds between two snapshots."""
        return {name: cpu_ms_between(start.groups.get(name, {}), stats, start.uptime_ticks)
                for name, stats in end.groups.items()}
