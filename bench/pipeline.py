"""Building blocks of the whole-pipeline benchmark (bench/main.py) and the fault test (tests/faults).

Every service runs as its API (gunicorn) and worker processes (tests.system) on real RabbitMQ and
PostgreSQL (databases touchpoint_bench_*, a unique broker namespace). The policy caps every
contact at 1 message per 7 days on all channels. `SmtpSink` is the in-process aiosmtpd server the
fault test inspects; the benchmark itself uses bench/sinks.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text

import tests.system as system_module
from shared.db.engine import create_database_if_missing, drop_database, make_engine
from shared.db.migrate import migrate
from tests.support import AMQP_URL, PG_ROOT, unique_namespace, wait_for
from tests.system import System, build_system, free_port

WEEK = 7 * 24 * 3600
CAP_POLICY = {"caps": [{"id": "one-a-week", "limit": 1, "window_seconds": WEEK, "scope": "all"}],
              "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [], "control_group": None,
              "capacity": []}
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.MULTILINE | re.IGNORECASE)


@dataclass
class Arrival:
    """One email received by the SMTP sink."""

    to: str
    message_id: str
    at: float


@dataclass
class SmtpSink:
    """An aiosmtpd server on loopback recording every message's recipient and Message-ID."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd hook name
        """Record the message."""
        found = _MESSAGE_ID.search(envelope.content or b"")
        message_id = found.group(1).decode() if found else ""
        now = time.time()
        with self._lock:
            for to in envelope.rcpt_tos:
                self.arrivals.append(Arrival(to.lower(), message_id, now))
        return "250 OK"

    def start(self) -> None:
        """Start listening."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    @property
    def count(self) -> int:
        """Messages received so far."""
        return len(self.arrivals)


def channels_env(smtp_port: int, delivery_workers: int = 2) -> dict[str, str]:
    """Channel settings: email to the sink (no client-side rate limit), call tasks, two delivery workers."""
    import json

    adapters = {"email": {"adapter": "smtp", "host": "127.0.0.1", "port": smtp_port, "sender": "bench@touchpoint",
                          "rate_limit_per_second": 100000, "max_attempts": 20, "backoff_seconds": 1},
                "call": {"adapter": "call_center", "task_ttl_seconds": 86400}}
    return {"CHANNELS_ADAPTERS": json.dumps(adapters), "CHANNELS_DELIVERY_WORKERS": str(delivery_workers)}


def bench_database(name: str, migrations_dir: Path | None = None) -> str:
    """Like tests.support.fresh_database, but named touchpoint_bench_<name>."""
    url = f"{PG_ROOT}/touchpoint_bench_{name}"
    drop_database(url)
    create_database_if_missing(url)
    if migrations_dir is not None:
        migrate(migrations_dir, url)
    return url


def make_keys(database_url: str) -> dict[str, str]:
    """One API key per role in a migrated auth database."""
    from shared.auth.keys import ApiKeyStore

    store = ApiKeyStore(make_engine(database_url, pool_size=1), cache_seconds=0)
    return {role: store.create(f"pipeline-{role}", role)[1]
            for role in ("marketer", "channel_owner", "agent", "operator", "ingest")}


def engines(system: System) -> dict[str, Engine]:
    """One small engine per service database (the harness may read them; services may not)."""
    return {s: make_engine(system.env[f"{s.upper()}_DATABASE_URL"], pool_size=2)
            for s in ("contacts", "campaigns", "channels", "scheduler")}


def scalar(engine: Engine, sql: str, **params) -> object:
    """One value of a query."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def check(response, *codes: int):
    """The response's JSON when its status is one of `codes`, else an AssertionError with the body."""
    if response.status_code not in codes:
        raise AssertionError(f"{response.request.method} {response.url} -> {response.status_code}: {response.text}")
    return response.json() if response.content else None


def put_policy(system: System, policy: dict | None = None) -> dict:
    """Replace the gate's rules through the channels API."""
    return check(system.session().put(system.url("channels", "/policy"), json=policy or CAP_POLICY, timeout=30), 200)


def import_contacts(system: System, cohorts: dict[str, int], timeout: float = 600) -> dict[str, list[str]]:
    """Import `count` contacts per cohort through POST /imports; return the emails per cohort."""
    lines = ["external_id,email,first_name,time_zone,cohort"]
    emails: dict[str, list[str]] = {}
    for cohort, count in cohorts.items():
        emails[cohort] = []
        for i in range(count):
            email = f"{cohort}{i}@example.com"
            emails[cohort].append(email)
            lines.append(f"{cohort}-{i},{email},Person{i},Europe/London,{cohort}")
    body = ("\n".join(lines) + "\n").encode()
    session = system.session()
    job = check(session.post(system.url("contacts", "/imports"), data=body,
                             headers={"Content-Type": "text/csv"}, timeout=120), 202)

    def done() -> dict | None:
        state = check(session.get(system.url("contacts", f"/imports/{job['id']}"), timeout=30), 200)
        if state["status"] == "failed":
            raise AssertionError(f"import failed: {state}")
        return state if state["status"] == "done" else None

    state = wait_for(done, timeout=timeout, interval=0.5, message="the import")
    assert state["rejected"] == 0, state
    return emails


def create_segment(system: System, cohort: str) -> str:
    """A segment of one cohort; returns its id."""
    body = {"name": f"cohort {cohort}", "definition": f"cohort == '{cohort}'"}
    return check(system.session().post(system.url("contacts", "/segments"), json=body, timeout=30), 201, 200)["id"]


def broadcast_definition(segment_id: str, second_step: bool) -> dict:
    """An email to the segment; with `second_step`, a call one second later (the weekly cap must stop it)."""
    steps = [{"id": "mail", "type": "send", "channel": "email", "priority": 50,
              **({"next": "pause"} if second_step else {}),
              "template": {"subject": "Hello {{ contact.first_name }}", "body": "Our news."}}]
    if second_step:
        steps += [{"id": "pause", "type": "wait", "duration": "1s", "next": "call"},
                  {"id": "call", "type": "send", "channel": "call", "priority": 50,
                   "template": {"subject": "Follow-up", "body": "Call {{ contact.first_name }}"}}]
    return {"name": "Pipeline broadcast", "category": "marketing", "priority": 50,
            "entry": {"type": "segment", "segment_id": segment_id,
                      "schedule": {"at": "2099-01-01T09:00:00+00:00"}},
            "steps": steps, "reentry": {"policy": "never"}}


def event_campaign() -> dict:
    """A service call for every `withdrawal` event (the latency probe)."""
    return {"name": "Withdrawal call", "category": "service", "priority": 90,
            "entry": {"type": "event", "event_type": "withdrawal"},
            "steps": [{"id": "call", "type": "send", "channel": "call", "priority": 90,
                       "template": {"subject": "Withdrawal", "body": "Call {{ contact.first_name }}"}}],
            "reentry": {"policy": "always"}}


def activate(system: System, definition: dict) -> str:
    """Create and activate a campaign; returns its id."""
    session = system.session()
    created = check(session.post(system.url("campaigns", "/campaigns"), json=definition, timeout=30), 201, 200)
    check(session.post(system.url("campaigns", f"/campaigns/{created['campaign_id']}/activate"), timeout=30), 200, 202)
    return created["campaign_id"]


def trigger_broadcast(system: System, campaign_id: str, timeout: float = 60) -> float:
    """Wait for the scheduler to hold the campaign's schedule, trigger it; return the trigger time."""
    session = system.session()
    schedule_id = f"campaign:{campaign_id}"

    def known() -> bool:
        try:
            return session.get(system.url("scheduler", f"/schedules?owner={campaign_id}"),
                               timeout=10).json().get("items")
        except Exception:  # a restarting API: try again
            return False

    wait_for(known, timeout=timeout, interval=0.2, message="the broadcast schedule at the scheduler")
    started = time.time()
    check(session.post(system.url("scheduler", f"/schedules/{schedule_id}/trigger"), timeout=30), 202)
    return started


def wait_quiescent(probe: Callable[[], tuple], timeout: float, still_for: float = 4.0, interval: float = 0.5) -> tuple:
    """Wait until `probe()` returns the same non-empty value for `still_for` seconds; return it."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        value = probe()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= still_for:
            return value
        time.sleep(interval)
    raise AssertionError(f"not quiescent after {timeout:.0f} s; last state {last}")


def pipeline_state(dbs: dict[str, Engine], sink: SmtpSink, campaign_id: str) -> tuple:
    """Counts that stop moving once the pipeline is idle: decisions, open deliveries, SMTP arrivals, outboxes."""
    decided = scalar(dbs["channels"], "SELECT count(*) FROM decisions WHERE campaign_id = :c", c=campaign_id)
    open_jobs = scalar(dbs["channels"], "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')")
    outboxes = tuple(scalar(db, "SELECT count(*) FROM outbox") for db in dbs.values())
    return decided, open_jobs, sink.count, outboxes


def start_system(prefix: str, log_dir: Path, smtp_port: int, auth_url: str, keys: dict[str, str],
                 bench_databases: bool = False, extra_env: dict[str, str] | None = None,
                 replicas: int = 1, amqp_url: str = AMQP_URL) -> System:
    """Build (fresh databases, unique namespace on `amqp_url`) and start the four services, `replicas` workers each."""
    env = {**channels_env(smtp_port), **(extra_env or {})}
    original = system_module.fresh_database
    if bench_databases:  # touchpoint_bench_<prefix>_<service> instead of touchpoint_test_*
        system_module.fresh_database = bench_database
    try:
        system = build_system(unique_namespace(prefix), auth_url, keys, log_dir, extra_env=env, prefix=prefix,
                              amqp_url=amqp_url)
    finally:
        system_module.fresh_database = original
    for service in system_module.SERVICES:
        first = system.processes[f"{service}-worker"]
        for n in range(2, replicas + 1):
            system.processes[f"{service}-worker-{n}"] = system_module.Process(
                f"{service}-worker-{n}", first.command, first.env, log_dir / f"{service}-worker-{n}.log")
    system.start()
    return system


def delete_namespace(namespace: str, amqp_url: str = AMQP_URL) -> None:
    """Delete the broker queues and exchanges of a namespace (queue names listed by rabbitmqctl).

    The bench shares the broker's default vhost with a developer's local run, so it deletes by name;
    the tests use a vhost of their own instead (tests.support.broker_vhost).
    """
    import subprocess

    import pika

    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True,
                            timeout=60)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for name in listed.stdout.split():
            if name.startswith(namespace + "."):
                channel.queue_delete(name)
        for suffix in ("events", "dead"):
            channel.exchange_delete(f"{namespace}.{suffix}")
    finally:
        connection.close()
