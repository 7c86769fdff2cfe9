"""Scheduler benchmark: insert 1,000,000 due entries, then measure due-to-publish delay and catch-up.

    /tmp/probe-venv/bin/python bench/scheduler_due.py [--entries 1000000] [--burst 10000] [--window 60]
                                                     [--overdue 100000]

Uses the database `touchpoint_bench_scheduler` (recreated) and a throwaway broker namespace.
Phase 1 COPYs the backlog (due tomorrow, so it stays pending while the poll runs over it).
Phase 2 lets `--burst` entries fall due within one `--window`-second minute while a scheduler
worker (poll job + outbox relay) runs; a probe queue records when each message arrives:
arrival minus due_at is the delay a downstream consumer sees, the envelope's occurred_at minus
due_at is the poll's share of it. Phase 3 stops the worker, lets `--overdue` entries pile up
in the past, restarts it and measures how fast the backlog drains (bounded batches per tick).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pika
import psycopg
from sqlalchemy import func, select

from services.scheduler.domain.entries import DueEntry
from services.scheduler.leadership import libpq_url
from services.scheduler.repository import add_entries, due_entries
from services.scheduler.service import DEFINITION
from shared.config import DEFAULT_AMQP_URL, Settings, default_database_url
from shared.db.engine import drop_database, make_engine
from shared.db.migrate import migrate
from shared.runtime import Worker


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def copy_entries(url: str, count: int, due_from: datetime, spread: timedelta, prefix: str) -> float:
    """COPY `count` step.due entries due across `spread` from `due_from`; return seconds taken."""
    started = time.perf_counter()
    step = spread / max(count, 1)
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY due_entries (entry_id, due_at, message_type, key, owner, payload) FROM STDIN") as copy:
            for i in range(count):
                due = due_from + step * i
                payload = json.dumps({"enrollment_id": f"{prefix}-{i}", "step_id": "s1", "due_at": due.isoformat()})
                copy.write_row((f"{prefix}-{i}", due, "step.due", f"contact-{i % 50_000}", f"camp-{i % 100}", payload))
        conn.commit()
    return time.perf_counter() - started


class ProbeConsumer:
    """Consumes a probe queue in a thread, recording arrival time and payload of each message."""

    def __init__(self, amqp_url: str, namespace: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        self.exchange = f"{namespace}.events"
        self.channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        self.queue = f"{namespace}.probe"
        self.channel.queue_declare(self.queue, durable=False)
        self.channel.queue_bind(self.queue, self.exchange, routing_key="step.due")
        self.channel.basic_qos(prefetch_count=1000)
        self.arrivals: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self.channel.basic_consume(self.queue, self._on_message, auto_ack=True)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_message(self, _ch, _method, _props, body: bytes) -> None:
        self.arrivals.append((time.time(), json.loads(body)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.connection.process_data_events(time_limit=0.05)

    def start(self) -> None:
        """Start consuming."""
        self.thread.start()

    def close(self) -> None:
        """Stop, delete the queue and the exchange."""
        self._stop.set()
        self.thread.join(5)
        self.channel.queue_delete(self.queue)
        self.channel.exchange_delete(self.exchange)
        self.connection.close()


def wait_until(predicate, timeout: float) -> bool:
    """Poll `predicate` until true or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def main() -> None:
    """Run the three phases and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--overdue", type=int, default=100_000)
    args = parser.parse_args()

    url = default_database_url("touchpoint_bench_scheduler")
    namespace = f"tpbench_sched_{uuid.uuid4().hex[:8]}"
    drop_database(url)
    migrate(DEFINITION.migrations_dir, url)
    engine = make_engine(url)

    now = datetime.now(UTC)
    seconds = copy_entries(url, args.entries, now + timedelta(days=1), timedelta(days=30), "backlog")
    print(f"insert {args.entries:,} due entries with COPY: {seconds:.1f} s ({args.entries / seconds:,.0f} rows/s)")
    sample = [DueEntry(f"many-{i}", now + timedelta(days=40), "step.due", {"enrollment_id": f"m{i}", "step_id": "s"},
                       key=f"c{i}") for i in range(100_000)]
    started = time.perf_counter()
    for start in range(0, len(sample), 1000):
        with engine.begin() as conn:
            add_entries(conn, sample[start:start + 1000])
    seconds = time.perf_counter() - started
    print(f"insert 100,000 through the handler path (INSERT .. ON CONFLICT, 1,000 per statement): {seconds:.1f} s "
          f"({100_000 / seconds:,.0f} rows/s)")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE due_entries")

    settings = Settings(service="scheduler", database_url=url, amqp_url=DEFAULT_AMQP_URL, namespace=namespace)
    probe = ProbeConsumer(DEFAULT_AMQP_URL, namespace)
    probe.start()
    worker = Worker(DEFINITION, settings, engine, consumers=False)
    worker.start()
    try:
        # Phase 2: a burst falling due within one minute, with the million pending beside it.
        burst_from = datetime.now(UTC) + timedelta(seconds=3)
        copy_entries(url, args.burst, burst_from, timedelta(seconds=args.window), "burst")
        ok = wait_until(lambda: len(probe.arrivals) >= args.burst, args.window + 60)
        arrivals = probe.arrivals[:]
        delays = [at - datetime.fromisoformat(m["payload"]["due_at"]).timestamp() for at, m in arrivals]
        claims = [(datetime.fromisoformat(m["occurred_at"]) - datetime.fromisoformat(m["payload"]["due_at"]))
                  .total_seconds() for _, m in arrivals]
        early = sum(1 for c in claims if c < 0)
        print(f"burst: {len(arrivals):,}/{args.burst:,} arrived{'' if ok else ' (TIMED OUT)'} over {args.window:.0f} s, "
              f"{args.entries + 100_000:,} other entries pending; published early: {early}")
        print(f"  due -> arrival at probe:  p50 {statistics.median(delays) * 1000:.0f} ms, "
              f"p99 {pct(delays, 99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")
        print(f"  due -> claimed (occurred_at): p50 {statistics.median(claims) * 1000:.0f} ms, "
              f"p99 {pct(claims, 99) * 1000:.0f} ms")

        # Phase 3: downtime, then catch-up in bounded batches, oldest first.
        worker.stop()
        probe.arrivals.clear()
        copy_entries(url, args.overdue, datetime.now(UTC) - timedelta(hours=2), timedelta(hours=1), "overdue")
        started = time.perf_counter()
        worker = Worker(DEFINITION, settings, engine, consumers=False)
        worker.start()

        def pending_overdue() -> int:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(due_entries).where(
                    due_entries.c.state == "pending", due_entries.c.entry_id.like("overdue-%"))).scalar_one()

        wait_until(lambda: pending_overdue() == 0, 600)
        fired = time.perf_counter() - started
        wait_until(lambda: len(probe.arrivals) >= args.overdue, 600)
        arrived = time.perf_counter() - started
        ordered = [datetime.fromisoformat(m["payload"]["due_at"]) for _, m in probe.arrivals]
        inversions = sum(1 for a, b in zip(ordered, ordered[1:], strict=False) if b < a)
        print(f"catch-up: {args.overdue:,} overdue entries claimed in {fired:.1f} s ({args.overdue / fired:,.0f}/s), "
              f"all arrived after {arrived:.1f} s; out-of-due-order arrivals: {inversions}")
    finally:
        worker.stop()
        probe.close()
        engine.dispose()


if __name__ == "__main__":
    main()
