"""Fixtures of the channels integration tests: a real SMTP server, a stand-in SMS gateway, the service.

Everything runs against the real RabbitMQ and PostgreSQL: each test gets a fresh database and its
own broker namespace (deleted afterwards) in the module's vhost; an observer queue bound to `message.*` and
`interaction.recorded` collects what the service announces.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pika
import pytest
from aiosmtpd.controller import Controller

from services.channels.consumers import PLANS_SPEC, dispatch_spec
from services.channels.handlers.contact_facts import HANDLERS
from services.channels.service import build_definition
from shared.contracts import register_contracts
from shared.db.engine import make_engine
from shared.messaging import ConfirmingPublisher, Message, QueueSpec, Topology, decode
from shared.runtime import Worker
from tests.support import ServiceHarness, SmsGateway, SmtpSink, unique_namespace

register_contracts()  # as a service process does at start-up

OBSERVER = QueueSpec("observer", ("message.*", "interaction.recorded"), retry_delays_ms=())
NO_LIMITS_POLICY = {"caps": [{"id": "weekly", "limit": 3, "window_seconds": 7 * 86400, "scope": "all"}],
                    "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
                    "control_group": None, "capacity": []}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server process-local on a free loopback port; `.envelopes` holds what arrived."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture
def gateway():
    """A stand-in HTTP gateway on loopback (`tests.support.SmsGateway`)."""
    gw = SmsGateway()
    yield gw
    gw.close()


class Clock:
    """A settable clock for the gate (a `shared.clock.Clock`): the real time until `set()`."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now

    def set(self, instant: datetime) -> None:
        """Decide at `instant` from now on."""
        self._now = instant

    def now(self) -> datetime:
        """The set instant (UTC), else the real time."""
        return (self._now or datetime.now(UTC)).astimezone(UTC)


class ChannelsEnv:
    """The channels service under test, its namespace, an observer queue and extra dispatch workers."""

    def __init__(self, harness: ServiceHarness, topology: Topology, clock: Clock) -> None:
        self.harness = harness
        self.topology = topology
        self.clock = clock
        self.observer = topology.queue_name(OBSERVER)
        self.workers: list[Worker] = []
        self.publisher = ConfirmingPublisher(harness.settings.amqp_url, topology.events_exchange)
        self.seen: list[Message] = []

    def start_worker(self, consume: str | None = None, relay: bool = True, background: bool = True,
                     consumers: bool = True) -> Worker:
        """Start one more worker process-equivalent consuming the given shards ("0,1")."""
        extra = dict(self.harness.settings.extra)
        if consume is not None:
            extra["dispatch_consume"] = consume
        settings = self.harness.settings.with_overrides(extra=extra)
        worker = Worker(self.harness.definition, settings, make_engine(self.harness.database_url, pool_size=8),
                        relay=relay, background=background, consumers=consumers)
        worker.start()
        if worker.runner is not None:
            assert worker.runner.connected.wait(20), "worker did not connect"
        self.workers.append(worker)
        return worker

    def publish(self, messages: Iterable[Message]) -> None:
        """Publish messages to the namespace's events exchange with confirms."""
        batch = list(messages)
        for start in range(0, len(batch), 2000):
            self.publisher.publish_batch(batch[start:start + 2000])

    def outcomes(self) -> list[Message]:
        """Everything the observer queue received so far (accumulated across calls)."""
        connection = pika.BlockingConnection(pika.URLParameters(self.harness.settings.amqp_url))
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=1000)
            for method, _props, body in channel.consume(self.observer, auto_ack=True, inactivity_timeout=0.3):
                if method is None:
                    break
                self.seen.append(decode(body))
            channel.cancel()
        finally:
            connection.close()
        return self.seen

    def close(self) -> None:
        """Stop workers, release connections, delete the namespace's queues and exchanges."""
        for worker in self.workers:
            worker.stop()
            worker.engine.dispose()
        self.harness.close()
        self.publisher.close()
        connection = pika.BlockingConnection(pika.URLParameters(self.harness.settings.amqp_url))
        try:
            self.topology.teardown(connection.channel())
        finally:
            connection.close()


def request_message(request_id: str, contact_id: str, channel: str = "email", category: str = "marketing",
                    message_id: str | None = None, **fields: Any) -> Message:
    """A `message.requested` envelope keyed by the contact."""
    payload = {"request_id": request_id, "contact_id": contact_id, "channel": channel, "category": category,
               "content": fields.pop("content", {"subject": "Hi $first_name", "body": "Hello $first_name!"}),
               "recipient": fields.pop("recipient", {"email": f"{contact_id}@example.test",
                                                     "phone": "+15550001111", "first_name": contact_id}),
               **fields}
    extra = {"id": message_id} if message_id else {}
    return Message(type="message.requested", payload=payload, key=contact_id, **extra)


def fact_message(message_type: str, payload: dict[str, Any]) -> Message:
    """A contact fact as the contacts service would announce it."""
    return Message(type=message_type, payload=payload, key=payload["contact_id"])


@pytest.fixture
def channels_env(auth_database_url, api_keys, amqp_url) -> Callable[..., ChannelsEnv]:
    """Factory: `channels_env(adapters={...}, policy={...}, clock=Clock(...), start=True)`."""
    envs: list[ChannelsEnv] = []

    def make(adapters: dict[str, Any] | None = None, policy: dict[str, Any] | None = None,
             clock: Clock | None = None, start: bool = True, **extra: str) -> ChannelsEnv:
        clock = clock or Clock()
        namespace = unique_namespace("tpch")
        config = {"adapters": json.dumps(adapters if adapters is not None else {}), **extra}
        harness = ServiceHarness(build_definition(clock), namespace, auth_database_url, api_keys,
                                 amqp_url=amqp_url, extra_env=config)
        topology = Topology(namespace)
        with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
            channel = connection.channel()
            for spec in (dispatch_spec(harness.settings), QueueSpec("channels.contacts", tuple(HANDLERS)), PLANS_SPEC,
                         OBSERVER):
                topology.declare(channel, spec)
        env = ChannelsEnv(harness, topology, clock)
        envs.append(env)
        if policy is not None:
            answer = harness.put("/policy?allow_empty=true", json=policy)  # some tests mean an open gate
            assert answer.status_code == 200, answer.get_json()
        if start:
            env.start_worker()
        return env

    yield make
    for env in envs:
        env.close()
