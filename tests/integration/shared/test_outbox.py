"""The outbox: an event committed is on the broker exactly once, whatever dies in between."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pika
import pytest
from sqlalchemy import func, select

from shared.messaging import Message, MessagingTables, OutboxRelay, QueueSpec, UnitOfWorkFactory
from shared.messaging.outbox import wait_until_drained
from tests.integration.shared.conftest import TABLES
from tests.support import REPO, drain_queue, queue_depth, wait_for

pytestmark = pytest.mark.integration


def _declare(topology, amqp_url, name="probe", bindings=("widget.#",)):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return topology.declare(connection.channel(), QueueSpec(name, bindings))[0]
    finally:
        connection.close()


def test_uow_publishes_only_on_commit(engine, topology, amqp_url):
    queue = _declare(topology, amqp_url)
    uow_factory = UnitOfWorkFactory(engine, TABLES, "test")
    with uow_factory() as uow:
        uow.publish("widget.created", {"id": "w1"}, key="w1")
    with pytest.raises(RuntimeError), uow_factory() as uow:
        uow.publish("widget.created", {"id": "w2"}, key="w2")
        raise RuntimeError("rolled back")
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test")
    assert relay.relay_once() == 1
    relay.publisher.close()
    bodies = [json.loads(body) for _, body in drain_queue(queue)]
    assert [b["payload"]["id"] for b in bodies] == ["w1"]


def test_committed_event_survives_a_kill_before_publish(engine, topology, amqp_url, messaging_db_url):
    """A process commits an event and is killed (SIGKILL) before any relay ran: the event still goes out once."""
    queue = _declare(topology, amqp_url)
    script = textwrap.dedent(f"""
        import os, signal
        from shared.db.engine import make_engine
        from shared.messaging import UnitOfWorkFactory
        from tests.integration.shared.conftest import TABLES
        factory = UnitOfWorkFactory(make_engine({messaging_db_url!r}), TABLES, "victim")
        with factory() as uow:
            uow.publish("widget.created", {{"id": "killed"}}, key="killed")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test")
    thread = relay.start_thread()
    assert wait_until_drained(engine, TABLES.outbox)
    relay.stop()
    thread.join(5)
    wait_for(lambda: queue_depth(queue) >= 1, message="the relayed event")
    bodies = [json.loads(body) for _, body in drain_queue(queue)]
    assert [b["payload"]["id"] for b in bodies] == ["killed"]


def test_relay_killed_after_publish_duplicates_but_never_loses(engine, topology, amqp_url, messaging_db_url):
    """A relay killed between the broker's confirm and its delete republishes; ids let consumers dedupe."""
    queue = _declare(topology, amqp_url)
    with UnitOfWorkFactory(engine, TABLES, "test")() as uow:
        for i in range(5):
            uow.publish("widget.created", {"id": f"w{i}"}, key=f"w{i}")
    script = textwrap.dedent(f"""
        import os, signal
        from shared.db.engine import make_engine
        from shared.messaging import OutboxRelay
        from tests.integration.shared.conftest import TABLES
        relay = OutboxRelay(make_engine({messaging_db_url!r}), TABLES, {amqp_url!r}, {topology.events_exchange!r}, "victim")
        original = relay.publisher.publish_raw
        def publish_then_die(items, timeout=30.0):
            original(items, timeout)
            os.kill(os.getpid(), signal.SIGKILL)
        relay.publisher.publish_raw = publish_then_die
        relay.relay_once()
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TABLES.outbox)).scalar_one() == 5
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test")
    assert relay.relay_once() == 5
    relay.publisher.close()
    wait_for(lambda: queue_depth(queue) >= 10, message="both copies")
    ids = [json.loads(body)["id"] for _, body in drain_queue(queue)]
    assert len(ids) == 10 and len(set(ids)) == 5  # at least once: each id twice, none missing


def test_relay_batches_many_messages_in_order(engine, topology, amqp_url):
    queue = _declare(topology, amqp_url)
    with UnitOfWorkFactory(engine, TABLES, "test")() as uow:
        for i in range(1200):
            uow.publish("widget.created", {"n": i}, key=str(i % 7))
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test", batch_size=500)
    assert [relay.relay_once() for _ in range(4)] == [500, 500, 200, 0]
    relay.publisher.close()
    wait_for(lambda: queue_depth(queue) >= 1200, message="1200 messages")
    numbers = [json.loads(body)["payload"]["n"] for _, body in drain_queue(queue)]
    assert numbers == list(range(1200))


def test_message_roundtrip_keeps_envelope_fields():
    message = Message(type="widget.created", payload={"a": 1}, key="k", source="s")
    from shared.messaging import decode

    assert decode(message.to_body()) == message
    assert isinstance(MessagingTables, type)
