"""Dispatch throughput: decisions/s and SMTP sends/s of the channels service with 1 and 4 workers.

Beside it, in the same run, the bare pika one-hop rate (publish -> consume -> ack) that
docs/PERFORMANCE.md says every figure must be read against.

    /tmp/probe-venv/bin/python bench/dispatch.py [--contacts 2000] [--per-contact 5]

Each worker is a `python -m services.channels worker` process (consumers, outbox relay, delivery
workers) consuming its share of the 8 dispatch shards; emails go to a local aiosmtpd server.
Requests are published before the workers start, so the figure is the consuming rate.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pika
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.channels.consumers import dispatch_spec  # noqa: E402
from services.channels.domain import CapScope, FrequencyCap, PolicyRules  # noqa: E402
from services.channels.handlers.contact_facts import HANDLERS  # noqa: E402
from services.channels.repository import decisions, deliveries  # noqa: E402
from services.channels.repository.rules_store import save_rules  # noqa: E402
from services.channels.service import DEFINITION  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.contracts import register_contracts  # noqa: E402
from shared.db.engine import make_engine  # noqa: E402
from shared.messaging import ConfirmingPublisher, Message, QueueSpec, Topology  # noqa: E402
from tests.support import AMQP_URL, fresh_database, unique_namespace  # noqa: E402

register_contracts()  # as a service process does at start-up

SHARDS = 8


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """Counts what the SMTP server receives."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802  (aiosmtpd hook name)
        self.count += 1
        return "250 OK"


def bare_pika_rate(n: int) -> float:
    """Messages/s through one hop: a publisher thread and a consumer (prefetch 200, ack each) at once."""
    queue = f"bench.bare.{uuid.uuid4().hex[:8]}"
    consumer_conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = consumer_conn.channel()
    channel.queue_declare(queue, durable=True)
    body = b"x" * 200

    def publish() -> None:
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        ch = conn.channel()
        props = pika.BasicProperties(delivery_mode=2)
        for _ in range(n):
            ch.basic_publish("", queue, body, props)
        conn.close()

    got = 0
    started = time.perf_counter()
    thread = threading.Thread(target=publish)
    thread.start()
    channel.basic_qos(prefetch_count=200)
    for method, _props, _body in channel.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        got += 1
        if got == n:
            break
    elapsed = time.perf_counter() - started
    thread.join()
    channel.cancel()
    channel.queue_delete(queue)
    consumer_conn.close()
    return got / elapsed


def run_dispatch(workers: int, contacts: int, per_contact: int, auth_url: str) -> tuple[float, float, int]:
    """Decisions/s and sends/s for `workers` dispatch workers; returns them and the number of sends."""
    sink = Sink()
    port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    url = fresh_database(f"bench_channels_{workers}", DEFINITION.migrations_dir)
    engine = make_engine(url)
    with engine.begin() as conn:
        save_rules(conn, PolicyRules(caps=(FrequencyCap("weekly", 3, timedelta(days=7),
                                                        CapScope.ALL),)))
    namespace = unique_namespace("tpbench")
    adapters = json.dumps({"email": {"adapter": "smtp", "port": port, "rate_limit_per_second": 100000}})
    base = Settings(service="channels", database_url=url, auth_database_url=auth_url, amqp_url=AMQP_URL,
                    namespace=namespace, extra={"adapters": adapters, "dispatch_shards": str(SHARDS)})
    topology = Topology(namespace)
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        for spec in (dispatch_spec(base), QueueSpec("channels.contacts", tuple(HANDLERS))):
            topology.declare(connection.channel(), spec)
    shards = [",".join(str(s) for s in range(SHARDS) if s % workers == w) for w in range(workers)]
    env = {**os.environ, "CHANNELS_DATABASE_URL": url, "AUTH_DATABASE_URL": auth_url, "AMQP_URL": AMQP_URL,
           "TOUCHPOINT_NAMESPACE": namespace, "CHANNELS_ADAPTERS": adapters,
           "CHANNELS_DISPATCH_SHARDS": str(SHARDS), "LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
    # Separate processes, as in production: threads of one process would share one GIL.
    running = [subprocess.Popen([sys.executable, "-m", "services.channels", "worker"], cwd=REPO,
                                env={**env, "CHANNELS_DISPATCH_CONSUME": consume},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for consume in shards]
    names = topology.shard_queue_names(dispatch_spec(base))
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        channel = connection.channel()
        while not all(channel.queue_declare(n, passive=True).method.consumer_count for n in names):
            time.sleep(0.1)
    publisher = ConfirmingPublisher(AMQP_URL, topology.events_exchange)
    total = contacts * per_contact
    batch = []
    for c in range(contacts):
        for k in range(per_contact):
            cid = f"b{c:06d}"
            batch.append(Message(type="message.requested", key=cid, payload={
                "request_id": f"{cid}-{k}", "contact_id": cid, "channel": "email", "category": "marketing",
                "content": {"subject": "Offer", "body": "Hello $first_name"},
                "recipient": {"email": f"{cid}@example.test", "first_name": cid}}))
    started = time.perf_counter()  # workers are consuming; publishing overlaps with dispatch
    for start in range(0, total, 5000):
        publisher.publish_batch(batch[start:start + 5000])
    publisher.close()
    decided_at = sent_at = None
    expected_sends = contacts * min(3, per_contact)
    while sent_at is None:
        time.sleep(0.1)
        with engine.connect() as conn:
            if decided_at is None and conn.execute(select(func.count()).select_from(decisions)).scalar_one() >= total:
                decided_at = time.perf_counter()
            sent = conn.execute(select(func.count()).select_from(deliveries)
                                .where(deliveries.c.state == "sent")).scalar_one()
        if sent >= expected_sends and decided_at is not None:
            sent_at = time.perf_counter()
        if time.perf_counter() - started > 600:
            raise SystemExit("bench did not finish in 10 minutes")
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        process.wait(30)
    engine.dispose()
    smtp.stop()
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        topology.teardown(connection.channel())
    assert sink.count >= expected_sends
    return total / (decided_at - started), expected_sends / (sent_at - started), expected_sends


def main() -> int:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--per-contact", type=int, default=5)
    parser.add_argument("--bare", type=int, default=50_000)
    args = parser.parse_args()
    from shared.auth.keys import MIGRATIONS_DIR

    auth_url = fresh_database("bench_auth", MIGRATIONS_DIR)
    bare = bare_pika_rate(args.bare)
    print(f"bare pika publish->consume->ack (one hop, 200-byte persistent): {bare:,.0f} msg/s")
    for workers in (1, 4):
        rate, sends, count = run_dispatch(workers, args.contacts, args.per_contact, auth_url)
        print(f"{workers} worker(s): {args.contacts * args.per_contact:,} requests -> {rate:,.0f} decisions/s "
              f"({rate / bare:.1%} of bare); {count:,} emails -> {sends:,.0f} sends/s into aiosmtpd")
    return 0


if __name__ == "__main__":
    sys.exit(main())
