"""One contacts service per test module: fresh database, app, worker in the module's vhost."""

from __future__ import annotations

import json

import pika
import pytest

from services.contacts.service import DEFINITION
from shared.messaging import QueueSpec, Topology
from tests.support import ServiceHarness, current_amqp_url, drain_queue, unique_namespace


@pytest.fixture(scope="module")
def contacts(broker_namespace, auth_database_url, api_keys, tmp_path_factory):
    """The contacts service with its worker (consumers, relay, import runner) running.

    The import runner's fallback poll is ten minutes, beyond every test's bound: jobs start because
    POST /imports wakes it (NOTIFY touchpoint_imports), which the import tests thereby prove.
    """
    harness = ServiceHarness(DEFINITION, broker_namespace, auth_database_url, api_keys,
                             extra_env={"import_dir": str(tmp_path_factory.mktemp("imports")),
                                        "import_poll_seconds": "600"})
    harness.start_worker()
    yield harness
    harness.close()


class Probe:
    """A queue in the test's namespace bound to some routing keys, to see what reached the broker."""

    def __init__(self, namespace: str, bindings: tuple[str, ...]) -> None:
        self.topology = Topology(namespace)
        connection = pika.BlockingConnection(pika.URLParameters(current_amqp_url()))
        try:
            spec = QueueSpec(f"probe.{unique_namespace('p')}", bindings, retry_delays_ms=())
            self.queue = self.topology.declare(connection.channel(), spec)[0]
        finally:
            connection.close()
        self.seen: list[dict] = []

    def drain(self) -> list[dict]:
        """Everything that arrived so far (kept across calls)."""
        self.seen.extend(json.loads(body) for _, body in drain_queue(self.queue))
        return self.seen

    def delete(self) -> None:
        """Remove the probe's queues."""
        connection = pika.BlockingConnection(pika.URLParameters(current_amqp_url()))
        try:
            channel = connection.channel()
            for name in self.topology.declared_queues:
                channel.queue_delete(name)
        finally:
            connection.close()


@pytest.fixture
def probe(contacts):
    """Factory of probe queues in the service's namespace, deleted after the test."""
    made: list[Probe] = []

    def make(*bindings: str) -> Probe:
        made.append(Probe(contacts.settings.namespace, bindings))
        return made[-1]

    yield make
    for item in made:
        item.delete()
