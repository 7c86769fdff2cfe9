"""The whole-pipeline benchmark (`bench/run --help`): every figure of issue 11 in one run.

In order: load average; the bare pika one hop (before any service runs); the SMTP sink's own
ceiling through the same path the services use (postfix smtp-sink, plus the delay proxy with
--provider-latency-ms); the pure normalisation rate of one core; the import through POST /imports
(rows/s, and when channels and campaigns know every contact); the broadcast (sends/s at the sink,
counted by Message-ID, decisions/s, CPU ms per send of every process, the report's lag behind the
sink, a 1,000-event POST timed under that load); event → call-task latency at --latency-rate and
a step search for the highest rate with p99 < 1 s; the idle CPU of the whole system; peak RSS of
every process; load average again. --json PATH writes every figure; bench/compare.py compares two.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.baseline import measure_baseline
from bench.procfs import load_average
from bench.sinks import start_sink
from bench.stats import rate
from bench.workload import normalisation_rate
from tests.support import AMQP_URL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--contacts", type=int, default=100_000, help="broadcast size (1000000 works: everything streams)")
    add("--provider-latency-ms", type=float, default=0.0, help="the SMTP server answers each message after this")
    add("--replicas", type=int, default=1, help="worker processes per service role")
    add("--latency-rate", type=float, default=100.0, help="events/s offered for the fixed latency probe")
    add("--latency-seconds", type=float, default=20.0)
    add("--search-seconds", type=float, default=8.0, help="length of each step-search trial (0: no search)")
    add("--search-trials", type=int, default=6)
    add("--search-contacts", type=int, default=10_000, help="fresh contacts set aside for the step search")
    add("--idle-seconds", type=float, default=60.0, help="idle CPU window (0: skip)")
    add("--events-batch", type=int, default=1000, help="items of the POST /events timed under load (0: skip)")
    add("--baseline-messages", type=int, default=20_000)
    add("--second-step", action="store_true", help="a call step after the email (the weekly cap stops it)")
    add("--broadcast-timeout", type=float, default=None, help="seconds to wait for the broadcast (default: by size)")
    add("--name", default="pipeline", help="databases are touchpoint_bench_<name>_*")
    add("--json", type=Path, default=None, help="write every figure to this file")
    add("--profile-seconds", type=float, default=0.0,
        help="record every worker with py-spy for this long from the broadcast's trigger (perturbs the figures)")
    add("--profile-dir", type=Path, default=Path("bench/results/profiles"), help="where py-spy's raw files go")
    add("--profile-gil", action="store_true",
        help="sample only threads holding the GIL (Python CPU; without it, threads waiting on sockets count too)")
    return parser.parse_args(argv)


def git_commit() -> str:
    """The checked-out commit (for the JSON)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print as it goes, write the JSON."""
    args = parse_args(argv)
    started = time.time()
    figures: dict = {"meta": {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": git_commit(),
                              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                              "load_average_start": load_average()}}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in figures['meta']['load_average_start'])}")
    try:
        base = measure_baseline(AMQP_URL, args.baseline_messages)
        figures["baseline"] = base
        print(f"bare pika one hop (persistent, prefetch 100, ack each): {base['rate']:,.0f} msg/s flat out; "
              f"at 2,000 msg/s offered p50 {base['latency_p50_ms']:.2f} ms, p99 {base['latency_p99_ms']:.2f} ms")
        figures["sink"] = sink_ceiling(args.provider_latency_ms)
        figures["import"] = {"normalise_rows_per_s_one_core": normalisation_rate()}
        print(f"pure normalisation (CSV row -> email, phone, time zone), one core: "
              f"{figures['import']['normalise_rows_per_s_one_core']:,.0f} rows/s")
        from bench.scenario import Scenario

        with Scenario(args) as scenario:
            scenario.run(figures)
    finally:
        figures["meta"]["load_average_end"] = load_average()
        figures["wall_seconds"] = time.time() - started
        summary(figures)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
            print(f"figures written to {args.json}")


def sink_ceiling(latency_ms: float) -> dict:
    """Start a sink like the run's, measure how many messages/s it takes from a C client, stop it."""
    sink = start_sink(latency_ms)
    sessions = 200 if latency_ms else 20
    try:
        ceiling = sink.ceiling(messages=max(3000, int(sessions * 40)) if latency_ms else 10_000, sessions=sessions)
        counted = sink.arrivals.exactly_once()
    finally:
        sink.stop()
    print(f"SMTP sink: {sink.kind}, answering after {latency_ms:.0f} ms"
          f"{' (delay proxy in front)' if latency_ms and sink.kind.startswith('postfix') else ''}; its own ceiling "
          f"{ceiling:,.0f} msg/s (postfix smtp-source, {sessions} sessions, {counted['distinct']:,} counted)")
    return {"kind": sink.kind, "latency_ms": latency_ms, "ceiling_per_s": ceiling, "ceiling_sessions": sessions}


def summary(figures: dict) -> None:
    """The closing lines: the headline figures and their ratios to the bare hop of the same run."""
    bare = figures.get("baseline", {}).get("rate")
    cast = figures.get("broadcast", {})
    load = figures["meta"]
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load['load_average_end'])} "
          f"(start {' '.join(f'{x:.2f}' for x in load['load_average_start'])}); wall time {figures['wall_seconds']:.0f} s")
    if bare and cast:
        print(f"RATIOS to the bare one hop of this run ({bare:,.0f} msg/s): sends/s {cast['sends_per_s']:,.1f} = "
              f"{rate(cast['sends_per_s'], bare):.1%}; decisions/s {cast['decisions_per_s']:,.1f} = "
              f"{rate(cast['decisions_per_s'], bare):.1%}; sink ceiling "
              f"{figures['sink']['ceiling_per_s']:,.0f} = {rate(figures['sink']['ceiling_per_s'], bare):.0%}")


if __name__ == "__main__":
    main()
