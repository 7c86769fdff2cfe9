"""The phases of `bench/run` that need the running system: import, broadcast, latency, idle.

`Scenario` starts the sink and every service (with --replicas workers per role), samples every
process from /proc, runs the phases and fills the figures dict that bench/main.py prints and saves.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

from bench.hops import breakdown, describe, instants
from bench.pipeline import (
    activate,
    bench_database,
    broadcast_definition,
    create_segment,
    delete_namespace,
    event_campaign,
    make_keys,
    put_policy,
    scalar,
    start_system,
    trigger_broadcast,
    wait_quiescent,
)
from bench.probes import ReportLag, TaskWatcher, offer_events, post_event_batch
from bench.sampler import HARNESS, HARNESS_APPLICATION, SHARED_GROUPS, SINK, ProcessSampler
from bench.sinks import start_sink
from bench.stats import rate, step_search
from bench.workload import import_file, wait_known, write_csv
from shared.db.engine import make_engine
from shared.db.migrate import migrate
from tests.support import PG_ROOT

# Touchpoint's processes together below this share of one core = the broadcast's backlog is worked
# off (idle, every process together was 20 % before the wake-ups of issue 11 point 6, a few % after).
QUIET_SHARE = 0.25

P99_LIMIT_S = 1.0


class Scenario:
    """One run: the sink, the system, the sampler, and the phases over them."""

    def __init__(self, args) -> None:
        self.args = args
        self.log_dir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-"))

    def __enter__(self) -> Scenario:
        from shared.auth.keys import MIGRATIONS_DIR

        args = self.args
        prefix = args.name  # databases touchpoint_bench_<name>_*: two runs with different names can overlap
        auth_url = bench_database(f"{prefix}_auth")
        migrate(MIGRATIONS_DIR, auth_url)
        keys = make_keys(auth_url)
        self.sink = start_sink(args.provider_latency_ms)
        self.system = None
        try:
            self.system = start_system(prefix, self.log_dir, self.sink.port, auth_url, keys, bench_databases=True,
                                       replicas=args.replicas)
        except BaseException:
            self.sink.stop()
            raise
        self.dbs: dict[str, Engine] = {
            s: make_engine(self.system.env[f"{s.upper()}_DATABASE_URL"] + f"?application_name={HARNESS_APPLICATION}",
                           pool_size=2) for s in ("contacts", "campaigns", "channels", "scheduler")}
        self.sampler = ProcessSampler(
            lambda: {name: p.popen.pid for name, p in self.system.processes.items() if p.popen},
            f"touchpoint_bench_{prefix}_", f"{PG_ROOT}/postgres", lambda: self.sink.pids)
        self.sampler.start()
        print(f"logs in {self.log_dir}; namespace {self.system.namespace}; {len(self.system.processes)} processes "
              f"({args.replicas} worker(s) per role)")
        return self

    def __exit__(self, *exc) -> None:
        self.sampler.stop()
        self.system.stop()
        self.sink.stop()
        for db in self.dbs.values():
            db.dispose()
        delete_namespace(self.system.namespace)

    # -- phases -------------------------------------------------------------------------------------------

    def run(self, figures: dict) -> None:
        """Every phase in order; each adds its part to `figures` as soon as it has it."""
        args = self.args
        put_policy(self.system)
        activate(self.system, event_campaign())
        latency_pool = int(args.latency_rate * args.latency_seconds) + (args.search_contacts if args.search_seconds
                                                                         else 0)
        self.import_phase(figures, latency_pool)
        self.broadcast_phase(figures)
        self.latency_phase(figures, latency_pool)
        self.idle_phase(figures)
        figures["rss_max_mb"] = dict(sorted(self.sampler.rss_max_mb.items()))
        print("peak RSS sampled every second (MiB; an API is its gunicorn master + worker):")
        for name, mb in figures["rss_max_mb"].items():
            print(f"  {name:28} {mb:8.1f}")

    def import_phase(self, figures: dict, latency_pool: int) -> None:
        """Stream the contacts through POST /imports; rows/s and when channels and campaigns know them all."""
        path = self.log_dir / "contacts.csv"
        rows = write_csv(path, {"broadcast": self.args.contacts, "latency": latency_pool})
        job = import_file(self.system, path, timeout=max(600, rows / 100))
        path.unlink()
        known = wait_known(self.dbs, rows, timeout=max(600, rows / 50))
        part = figures["import"]
        part.update({"rows": rows, "seconds": job["seconds"], "rows_per_s": rate(rows, job["seconds"]),
                     "rejected": job.get("rejected"),
                     **{f"known_at_{s}_s": at - job["started"] for s, at in known.items()}})
        print(f"import of {rows:,} rows (email, phone, time zone) through POST /imports: {job['seconds']:.1f} s = "
              f"{part['rows_per_s']:,.0f} rows/s (pure normalisation {part['normalise_rows_per_s_one_core']:,.0f}/s "
              f"on one core); known at channels after {part['known_at_channels_s']:.1f} s, at campaigns after "
              f"{part['known_at_campaigns_s']:.1f} s")

    def broadcast_phase(self, figures: dict) -> None:
        """One email per contact of the broadcast cohort; rates, exactly-once, CPU per send, report lag."""
        args, system, sink = self.args, self.system, self.sink
        segment = create_segment(system, "broadcast")
        campaign = activate(system, broadcast_definition(segment, args.second_step))
        lag = ReportLag(system, campaign, "mail", sink.arrivals.times)
        before = self.sampler.snapshot()
        lag.start()
        started = trigger_broadcast(system, campaign)
        profilers = self.start_profilers()
        expected = args.contacts * (2 if args.second_step else 1)
        decided = lambda: scalar(self.dbs["channels"], "SELECT count(*) FROM decisions WHERE campaign_id = :c",  # noqa: E731
                                 c=campaign)
        batch = None
        timeout = args.broadcast_timeout or max(600, args.contacts / 20)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if batch is None and args.events_batch and (sink.arrivals.count >= args.contacts * 0.2
                                                        or time.time() > started + 5):
                # several events per contact when the broadcast is smaller than the batch
                batch = post_event_batch(system, [f"broadcast-{i % args.contacts}" for i in range(args.events_batch)])
                print(f"POST /events with {batch['items']:,} items during the broadcast: {batch['seconds']:.2f} s "
                      f"(HTTP {batch['status']})")
            if sink.arrivals.count >= args.contacts and decided() >= expected:
                break
            time.sleep(0.2)
        complete = sink.arrivals.count >= args.contacts
        after = self.sampler.snapshot()
        self.finish_profilers(profilers)
        ended = sink.arrivals.times[-1] if sink.arrivals.times else time.time()
        with self.dbs["channels"].connect() as conn:
            last, count = conn.execute(text("SELECT extract(epoch FROM max(decided_at)), count(*) FROM decisions "
                                            "WHERE campaign_id = :c"), {"c": campaign}).one()
            outcomes = dict(conn.execute(text("SELECT outcome, count(*) FROM decisions WHERE campaign_id = :c "
                                              "GROUP BY outcome"), {"c": campaign}).all())
        once = sink.arrivals.exactly_once()
        cast = {"contacts": args.contacts, "complete": complete, "seconds": ended - started,
                "sends_per_s": rate(once["distinct"], ended - started), "decisions": count, "outcomes": outcomes,
                "decisions_per_s": rate(count, float(last or started) - started), **once,
                "exactly_once": complete and once["distinct"] == once["messages"] == args.contacts}
        figures["broadcast"] = cast
        if batch:
            figures["events_batch"] = batch
        print(f"broadcast of {args.contacts:,}{' (INCOMPLETE at the timeout)' if not complete else ''}: "
              f"{once['messages']:,} emails ({once['distinct']:,} distinct Message-IDs, {once['duplicated_ids']} "
              f"duplicated, {once['without_id']} without) in {cast['seconds']:.1f} s -> {cast['sends_per_s']:,.1f} "
              f"sends/s; {count:,} decisions {outcomes} -> {cast['decisions_per_s']:,.1f} decisions/s")
        sends = max(1, once["distinct"])
        figures["report"] = lag.finish(args.contacts, timeout=120)
        print(f"report lag behind the sink: max {figures['report']['max_lag_s']:.1f} s over "
              f"{figures['report']['samples']} samples; the report showed all {args.contacts:,} sent "
              f"{figures['report']['caught_up_after_last_arrival_s']:.1f} s after the last arrival")
        # The work a send causes does not end at the sink: outcomes reach campaigns (the report) and
        # the contacts timeline later. CPU per send counts until every worker is quiet again, so a
        # consumer that falls behind cannot make the figure look cheaper.
        quiet_after = self.wait_quiet()
        settled = self.sampler.snapshot()
        self.cpu_per_send(figures, self.sampler.cpu_ms(before, settled), sends, quiet_after - started)
        window = self.sampler.cpu_ms(before, after)
        figures["cpu_per_send_window_ms"] = {
            "touchpoint_total": sum(ms for n, ms in window.items() if n in self.system.processes) / sends}
        print(f"  (trigger -> last arrival only, as measured before 2026-12-02b: Touchpoint total "
              f"{figures['cpu_per_send_window_ms']['touchpoint_total']:.2f} ms per send)")

    def start_profilers(self) -> list[subprocess.Popen]:
        """py-spy on every worker process for --profile-seconds (raw collapsed stacks, 50 Hz, not pausing them)."""
        seconds, folder = self.args.profile_seconds, self.args.profile_dir
        py_spy = Path(sys.executable).with_name("py-spy")
        if not seconds:
            return []
        if not py_spy.exists():
            print("no py-spy in the virtualenv (.venv/bin/pip install py-spy): not profiling")
            return []
        folder.mkdir(parents=True, exist_ok=True)
        return [subprocess.Popen([str(py_spy), "record", "--pid", str(p.popen.pid), "--duration", str(int(seconds)),
                                  "--rate", "50", "--format", "raw", "--nonblocking",
                                  *(["--gil"] if self.args.profile_gil else []), "--output",
                                  str(folder / f"{name}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for name, p in self.system.processes.items() if "-worker" in name and p.alive]

    def finish_profilers(self, profilers: list[subprocess.Popen]) -> None:
        """Wait for the py-spy recordings and say where they are."""
        for profiler in profilers:
            try:
                profiler.wait(self.args.profile_seconds + 30)
            except subprocess.TimeoutExpired:
                profiler.terminate()
        if profilers:
            print(f"py-spy profiles of the workers in {self.args.profile_dir} (python -m bench.hotspots FILE)")

    def wait_quiet(self, window: float = 2.0, share: float = QUIET_SHARE, timeout: float = 120.0) -> float:
        """Wait until Touchpoint's processes together use less than `share` of one core over `window`
        seconds (the backlog the broadcast left is worked off); return that moment (epoch seconds)."""
        deadline = time.time() + timeout
        while True:
            start = self.sampler.snapshot()
            time.sleep(window)
            cpu = self.sampler.cpu_ms(start, self.sampler.snapshot())
            busy = sum(ms for name, ms in cpu.items() if name in self.system.processes) / (window * 1000)
            if busy < share or time.time() > deadline:
                return time.time() - window

    def cpu_per_send(self, figures: dict, cpu: dict[str, float], sends: int, seconds: float) -> None:
        """CPU ms per send of every process and their sum over Touchpoint's."""
        touchpoint = {name: ms for name, ms in cpu.items() if name in self.system.processes}
        per_send = {name: ms / sends for name, ms in sorted(cpu.items())}
        per_send["touchpoint_total"] = sum(touchpoint.values()) / sends
        figures["cpu_per_send_ms"] = per_send
        figures["broadcast"]["settled_s"] = seconds
        print(f"CPU ms per send (from /proc utime+stime, trigger -> every worker quiet again {seconds:.1f} s "
              f"later, {sends:,} sends):")
        for name, ms in per_send.items():
            note = " (shared with everything else on the machine)" if name in SHARED_GROUPS else ""
            print(f"  {name:28} {ms:8.2f}{note}")

    def latency_phase(self, figures: dict, pool: int) -> None:
        """Event -> call task at the fixed rate, then the step search for the highest rate with p99 < 1 s."""
        args = self.args
        with self.dbs["contacts"].connect() as conn:
            ids = list(conn.execute(text("SELECT id FROM contacts WHERE external_id LIKE 'latency-%' "
                                         "ORDER BY external_id")).scalars())
        watcher = TaskWatcher(self.dbs["channels"])
        watcher.start()
        try:
            fixed_count = int(args.latency_rate * args.latency_seconds)
            due: dict[str, float] = {}
            before = self.sampler.snapshot()
            fixed = offer_events(self.system, watcher, ids[:fixed_count], args.latency_rate, grace=60, due=due)
            cpu = self.sampler.cpu_ms(before, self.sampler.snapshot())
            hops = breakdown(instants(self.dbs, due, watcher.seen))
            per_event = {name: ms / max(1, fixed["seen"]) for name, ms in sorted(cpu.items())}
            per_event["touchpoint_total"] = sum(v for k, v in per_event.items() if k in self.system.processes)
            figures["latency"] = {"fixed": fixed, "hops": hops, "cpu_ms_per_event": per_event}
            print(_latency_line(fixed))
            print("  where it went (each hop from the previous one; database instants are transaction starts):")
            print(describe(hops))
            print("  CPU ms per event (from /proc over the fixed-rate run and its tail): "
                  + "; ".join(f"{k} {v:.2f}" for k, v in per_event.items() if v >= 0.01))
            if not args.search_seconds:
                return
            spare = ids[fixed_count:]

            def trial(offered: float) -> float:
                if math_isclose(offered, args.latency_rate):
                    return fixed["p99_ms"] / 1000
                count = int(offered * args.search_seconds)
                if count > len(spare):
                    return float("inf")  # out of fresh contacts: counts as a failure, said in the output
                chosen = spare[:count]
                del spare[:count]
                result = offer_events(self.system, watcher, chosen, offered, grace=max(10.0, args.search_seconds))
                print("  search: " + _latency_line(result))
                self._drain(watcher, chosen)
                return result["p99_ms"] / 1000

            found = step_search(trial, args.latency_rate, P99_LIMIT_S, low=2.0, high=1600.0,
                                max_trials=args.search_trials)
            figures["step_search"] = {"best_rate": found.best, "limit_p99_s": P99_LIMIT_S,
                                      "trials": [{"rate": r, "p99_s": v} for r, v in found.trials]}
            best = f"{found.best:,.1f} events/s" if found.best else "none of the rates tried"
            print(f"highest offered rate with p99 < {P99_LIMIT_S:.0f} s: {best} (trials: "
                  + ", ".join(f"{r:g}/s -> {v:.2f} s" for r, v in found.trials) + ")")
        finally:
            watcher.stop()

    def _drain(self, watcher: TaskWatcher, chosen: list[str], timeout: float = 60) -> None:
        """Let a failed trial's backlog clear so the next trial starts from an idle pipeline."""
        deadline = time.time() + timeout
        while time.time() < deadline and not all(c in watcher.seen for c in chosen):
            time.sleep(0.2)

    def idle_phase(self, figures: dict) -> None:
        """Once nothing moves, every group's CPU over --idle-seconds, as % of one core."""
        seconds = self.args.idle_seconds
        if not seconds:
            return

        def state() -> tuple:
            outboxes = tuple(scalar(db, "SELECT count(*) FROM outbox") for db in self.dbs.values())
            open_jobs = scalar(self.dbs["channels"], "SELECT count(*) FROM deliveries WHERE state IN "
                                                     "('pending', 'sending')")
            # tasks and enrollments still growing: the latency probe's backlog is being worked off
            tasks = scalar(self.dbs["channels"], "SELECT count(*) FROM call_tasks")
            enrolled = scalar(self.dbs["campaigns"], "SELECT count(*) FROM enrollments")
            return outboxes, open_jobs, self.sink.arrivals.count, tasks, enrolled

        try:
            wait_quiescent(state, timeout=300)
            quiescent = True
        except AssertionError as exc:  # still measured, but flagged: the figure is then not an idle one
            print(f"the system did not come to rest before the idle window: {exc}")
            quiescent = False
        before = self.sampler.snapshot()
        time.sleep(seconds)
        cpu = self.sampler.cpu_ms(before, self.sampler.snapshot())
        percent = {name: ms / (seconds * 10) for name, ms in sorted(cpu.items())}
        percent["touchpoint_total"] = sum(v for k, v in percent.items() if k in self.system.processes)
        figures["idle"] = {"seconds": seconds, "quiescent": quiescent, "percent_of_one_core": percent}
        print(f"idle for {seconds:.0f} s, % of one core: Touchpoint total {percent['touchpoint_total']:.2f} %; "
              + "; ".join(f"{k} {v:.2f} %" for k, v in percent.items() if k not in ("touchpoint_total", HARNESS, SINK))
              + f"; (harness {percent.get(HARNESS, 0):.2f} %, sink {percent.get(SINK, 0):.2f} %)")


def math_isclose(a: float, b: float) -> bool:
    """Whether two rates are the same offered rate."""
    return abs(a - b) < 1e-6


def _latency_line(result: dict) -> str:
    return (f"event -> call task at {result['rate']:g} events/s offered for {result['seconds']:.0f} s: "
            f"{result['seen']:,}/{result['offered']:,} seen; p50 {result['p50_ms']:,.0f} ms, p95 "
            f"{result['p95_ms']:,.0f} ms, p99 {result['p99_ms']:,.0f} ms, max {result['max_ms']:,.0f} ms")
