"""Delivery alone: sends/s of the channels delivery worker from a table of due jobs into smtp-sink,
with the sink answering at once and after --latency-ms, in the same run (issue 11, point 2).

    .venv/bin/python -m bench.delivery [--jobs 3000] [--latency-ms 100] [--max-in-flight 16]

The jobs are written straight into a fresh channels database (touches reserved, deliveries due), then
one `DeliveryWorker` with an `SmtpAdapter` (no client-side rate limit) delivers them; the figure is
arrivals at the sink (exactly once by Message-ID) over the time from the worker's start to the last
arrival. The bare pika hop is not involved: the ratio that counts here is with latency / without.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.pipeline import bench_database
from bench.procfs import load_average
from bench.sinks import start_sink
from services.channels.adapters.smtp import SmtpAdapter
from services.channels.delivery import DeliveryWorker
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
from shared.db.engine import drop_database, make_engine

MIGRATIONS = Path(__file__).parent.parent / "services" / "channels" / "migrations"


def _requests(tag: str, count: int) -> list[dict]:
    return [{"request_id": f"{tag}-{n}", "contact_id": f"c{n}", "channel": "email", "category": "marketing",
             "content": {"subject": "Hello $first_name", "body": "Hi $first_name, news for you.\n" * 8},
             "recipient": {"email": f"c{n}@bench.test", "first_name": f"C{n}"}} for n in range(count)]


def run_once(url: str, jobs: int, latency_ms: float, max_in_flight: int, workers: int) -> dict:
    """Fill the table, deliver it all, return sends/s and the exactly-once check."""
    engine = make_engine(url, pool_size=4)
    tag = f"d{int(latency_ms)}-{int(time.time())}"
    requests = _requests(tag, jobs)
    uow_factory = ChannelsUnitOfWorkFactory(engine)
    for start in range(0, jobs, 1000):
        part = requests[start:start + 1000]
        with uow_factory() as uow:
            touch_ids = uow.ledger.reserve(part, datetime.now(UTC))
            uow.jobs.enqueue(part, touch_ids, part)
    sink = start_sink(latency_ms)
    options = {"port": sink.port, "sender": "bench@touchpoint", "rate_limit_per_second": 1_000_000,
               "max_in_flight": max_in_flight}
    running = [DeliveryWorker(engine, SmtpAdapter("email", options)) for _ in range(workers)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in running]
    started = time.time()  # the sink stamps arrivals with time.time()
    cpu = time.process_time()  # this process is the worker: its CPU per send
    for thread in threads:
        thread.start()
    deadline = started + max(120.0, jobs / 5)
    while sink.arrivals.count < jobs and time.time() < deadline:
        time.sleep(0.05)
    last = max(sink.arrivals.times) if sink.arrivals.times else time.time()
    for worker in running:
        worker.stop()
    for thread in threads:
        thread.join(30)
    cpu = time.process_time() - cpu
    once = sink.arrivals.exactly_once()
    sink.stop()
    engine.dispose()
    seconds = max(last - started, 1e-6)
    return {"latency_ms": latency_ms, "jobs": jobs, "arrived": once["messages"], "distinct": once["distinct"],
            "duplicated_ids": once["duplicated_ids"], "seconds": seconds, "sends_per_s": once["distinct"] / seconds,
            "worker_cpu_ms_per_send": cpu * 1000 / max(1, once["distinct"])}


def main() -> None:
    """Both runs, printed and compared."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--max-in-flight", type=int, default=SmtpAdapter.max_in_flight)
    parser.add_argument("--workers", type=int, default=1, help="delivery workers (lanes) for the channel")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_average())}")
    url = bench_database("delivery", MIGRATIONS)
    try:
        results = [run_once(url, args.jobs, latency, args.max_in_flight, args.workers)
                   for latency in (0.0, args.latency_ms)]
    finally:
        drop_database(url)
    for r in results:
        print(f"sink answering after {r['latency_ms']:.0f} ms: {r['distinct']:,} of {r['jobs']:,} emails "
              f"({r['duplicated_ids']} duplicated Message-IDs) in {r['seconds']:.1f} s -> {r['sends_per_s']:,.1f} "
              f"sends/s ({args.workers} worker(s), max_in_flight {args.max_in_flight}); worker CPU "
              f"{r['worker_cpu_ms_per_send']:.2f} ms per send")
    ratio = results[1]["sends_per_s"] / results[0]["sends_per_s"] if results[0]["sends_per_s"] else 0.0
    print(f"with {args.latency_ms:.0f} ms latency / without: {ratio:.0%}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_average())}")


if __name__ == "__main__":
    main()
