"""Fixtures of the scheduler's integration tests: the service harness, a probe queue, helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime

import pika
import pytest
from sqlalchemy import func, select

from services.scheduler.domain.entries import DueEntry
from services.scheduler.repository import add_entries, due_entries
from services.scheduler.service import build_definition
from shared.messaging import Message
from shared.messaging.publisher import ConfirmingPublisher
from tests.support import REPO, ServiceHarness, unique_namespace


class Probe:
    """A queue in the test namespace bound to what the scheduler fires; collects what arrives."""

    def __init__(self, amqp_url: str, namespace: str, bindings=("step.due", "message.requested", "broadcast.due")):
        self.name = f"{namespace}.probe.{uuid.uuid4().hex[:8]}"
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(f"{namespace}.events", exchange_type="topic", durable=True)
        self.channel.queue_declare(self.name, durable=False)
        for key in bindings:
            self.channel.queue_bind(self.name, f"{namespace}.events", routing_key=key)
        self.received: list[dict] = []

    def collect(self) -> list[dict]:
        """Take everything waiting in the queue; return all bodies received so far."""
        while True:
            method, _props, body = self.channel.basic_get(self.name, auto_ack=True)
            if method is None:
                return self.received
            self.received.append(json.loads(body))

    def count_by(self, field: str) -> Counter:
        """How many messages arrived per payload `field`."""
        return Counter(m["payload"][field] for m in self.collect())

    def close(self) -> None:
        """Delete the queue and close the connection."""
        self.channel.queue_delete(self.name)
        self.connection.close()


@pytest.fixture
def probe(amqp_url, broker_namespace):
    """A probe queue on the scheduler's namespace."""
    p = Probe(amqp_url, broker_namespace)
    yield p
    p.close()


@pytest.fixture
def make_harness(broker_namespace, auth_database_url, api_keys, amqp_url):
    """Build the scheduler's harness on a clock (None: system clock); closed after the test.

    `own_namespace=True` gives the harness a throwaway namespace of its own, deleted afterwards
    (needed when it declares queues with arguments that differ from the shared namespace's).
    """
    made: list[tuple[ServiceHarness, bool]] = []

    def make(clock=None, own_namespace: bool = False, **extra_env) -> ServiceHarness:
        namespace = unique_namespace("tpsched") if own_namespace else broker_namespace
        harness = ServiceHarness(build_definition(clock), namespace, auth_database_url, api_keys,
                                 amqp_url=amqp_url, extra_env=extra_env)
        made.append((harness, own_namespace))
        return harness

    yield make
    for harness, own in made:
        runner = harness.worker.runner if harness.worker is not None else None
        harness.close()
        if own and runner is not None:
            connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
            try:
                runner.topology.teardown(connection.channel())
            finally:
                connection.close()


def send(amqp_url: str, namespace: str, messages: list[Message]) -> None:
    """Publish messages to the namespace's events exchange, as another service would."""
    publisher = ConfirmingPublisher(amqp_url, f"{namespace}.events")
    try:
        publisher.publish_batch(messages)
    finally:
        publisher.close()


def insert_entries(engine, entries: list[DueEntry], chunk: int = 1000) -> None:
    """Insert due entries straight into the table (setting up a backlog quickly)."""
    for start in range(0, len(entries), chunk):
        with engine.begin() as conn:
            add_entries(conn, entries[start:start + chunk])


def step_entries(prefix: str, due: list[datetime], owner: str | None = None) -> list[DueEntry]:
    """step.due entries numbered `prefix-i`, due at the given instants."""
    return [DueEntry(entry_id=f"{prefix}-{i}", due_at=at, message_type="step.due", key=f"c{i}", owner=owner,
                     payload={"enrollment_id": f"{prefix}-{i}", "step_id": "s1"}) for i, at in enumerate(due)]


def states(engine) -> dict[str, int]:
    """Entries per state."""
    with engine.connect() as conn:
        return dict(conn.execute(select(due_entries.c.state, func.count()).group_by(due_entries.c.state)).all())


def spawn_worker(harness: ServiceHarness, **extra: str) -> subprocess.Popen:
    """Run `python -m services.scheduler worker` on the harness's database and namespace."""
    env = {**os.environ, "SCHEDULER_DATABASE_URL": harness.database_url,
           "AUTH_DATABASE_URL": harness.settings.auth_database_url, "AMQP_URL": harness.settings.amqp_url,
           "TOUCHPOINT_NAMESPACE": harness.settings.namespace, "LOG_LEVEL": "WARNING",
           **{f"SCHEDULER_{k.upper()}": str(v) for k, v in extra.items()}}
    return subprocess.Popen([sys.executable, "-m", "services.scheduler", "worker"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
