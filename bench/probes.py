"""Probes that run beside the load: event → call-task latency, campaign report lag, a 1,000-event POST.

The latency of an event is measured from the moment it was due to be posted (not when the poster
got round to it, so a slow API shows up as latency instead of hiding as a lower offered rate) to
the moment its call task is visible in the channels database (polled every 20 ms).
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, text

from bench.pipeline import check
from bench.stats import latency_summary, report_lag
from tests.system import System


class TaskWatcher:
    """Follows call_tasks in a thread and remembers when each contact's first task appeared."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        last_id = 0
        while not self._stop.wait(0.02):
            with self.engine.connect() as conn:
                # ids are handed out before commit, so a lower id can appear after a higher one: look back
                rows = conn.execute(text("SELECT id, contact_id FROM call_tasks WHERE id > :i ORDER BY id"),
                                    {"i": last_id - 1000}).all()
            now = time.time()
            for row in rows:
                last_id = max(last_id, row.id)
                self.seen.setdefault(row.contact_id, now)


def offer_events(system: System, watcher: TaskWatcher, contact_ids: list[str], rate: float,
                 grace: float, due: dict[str, float] | None = None) -> dict[str, float]:
    """POST one `withdrawal` per contact at `rate`/s (8 posting threads); return the latency summary.

    `due`, if given, is filled with the instant each contact's event was due to be posted (bench/hops.py).

    Waits up to `grace` seconds after the last post for the tasks; a task not seen by then counts as
    infinitely late, so a rate the system cannot sustain fails the p99 instead of vanishing.
    """
    local = threading.local()
    due = {} if due is None else due

    def post(contact_id: str, at: float) -> None:
        session = getattr(local, "session", None) or system.session("ingest")
        local.session = session
        event = {"event_id": f"lat-{uuid.uuid4().hex}", "contact_id": contact_id, "type": "withdrawal",
                 "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at)), "data": {"amount": 1}}
        check(session.post(system.url("contacts", "/events"), json=event, timeout=60), 202)

    start = time.time() + 0.2
    with ThreadPoolExecutor(8) as pool:
        futures = []
        for n, contact_id in enumerate(contact_ids):
            at = start + n / rate
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            due[contact_id] = at
            futures.append(pool.submit(post, contact_id, at))
        for future in futures:
            future.result()
    deadline = time.time() + grace
    while time.time() < deadline and any(c not in watcher.seen for c in due):
        time.sleep(0.1)
    latencies = [watcher.seen[c] - at for c, at in due.items() if c in watcher.seen]
    return {"rate": rate, "seconds": len(contact_ids) / rate, **latency_summary(latencies, len(due))}


class ReportLag:
    """Polls the campaign report once a second; compares its sent count with the sink's arrivals."""

    def __init__(self, system: System, campaign_id: str, step_id: str, arrival_times: list[float]) -> None:
        self.system, self.campaign_id, self.step_id = system, campaign_id, step_id
        self.arrival_times = arrival_times  # appended by the sink reader, in time order
        self.samples: list[tuple[float, int]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def sent(self) -> int:
        """The report's sent count of the step now."""
        report = check(self.system.session("marketer").get(
            self.system.url("campaigns", f"/campaigns/{self.campaign_id}/report"), timeout=30), 200)
        return int(report["steps"].get(self.step_id, {}).get("sent", 0))

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                sent = self.sent()
            except Exception:  # noqa: BLE001 - an overloaded API counts, the probe goes on
                self.errors += 1
                continue
            self.samples.append((time.time(), sent))

    def finish(self, expected: int, timeout: float) -> dict[str, float]:
        """Keep polling until the report shows `expected` sent (or `timeout`); return the lag figures."""
        deadline = time.time() + timeout
        while time.time() < deadline and not (self.samples and self.samples[-1][1] >= expected):
            time.sleep(0.5)
        self._stop.set()
        self._thread.join(35)
        last_arrival = self.arrival_times[-1] if self.arrival_times else float("nan")
        caught_up = next((at for at, sent in self.samples if sent >= expected), None)
        return {"max_lag_s": report_lag(self.samples, list(self.arrival_times)), "samples": len(self.samples),
                "errors": self.errors, "final_sent": self.samples[-1][1] if self.samples else 0,
                "caught_up_after_last_arrival_s": (caught_up - last_arrival) if caught_up else float("inf")}


def post_event_batch(system: System, external_ids: list[str]) -> dict[str, float]:
    """POST /events with one `bench_probe` event per external id in a single request; time the answer."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    body = [{"event_id": f"batch-{uuid.uuid4().hex}", "external_id": x, "type": "bench_probe",
             "occurred_at": now, "data": {}} for x in external_ids]
    started = time.perf_counter()
    response = system.session("ingest").post(system.url("contacts", "/events"), json=body, timeout=120)
    seconds = time.perf_counter() - started
    check(response, 202, 207, 200)
    return {"items": len(body), "seconds": seconds, "status": response.status_code}
