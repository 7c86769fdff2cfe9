"""The consumer loop on the real broker and database: once-only effects, retries, dead letters, restarts."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pika
import pytest
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.messaging import ConsumerRunner, Message, QueueSpec, Subscription, contract
from shared.messaging.publisher import ConfirmingPublisher
from tests.integration.shared.conftest import TABLES, widgets
from tests.support import drain_queue, queue_depth, wait_for

pytestmark = pytest.mark.integration


@contract("widget.counted")
class WidgetCounted(Schema):
    """Test contract."""

    id = fields.String(required=True)
    fail = fields.Boolean(load_default=False)


contract("widget.other")(WidgetCounted)


def count_widget(uow, message: Message) -> None:
    """Handler under test: bump a counter; raise when asked to."""
    if message.payload["fail"]:
        raise ValueError(f"widget {message.payload['id']} refuses")
    uow.conn.execute(pg_insert(widgets).values(id=message.payload["id"], count=1).on_conflict_do_update(
        index_elements=["id"], set_={"count": widgets.c.count + 1}))


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {row.id: row.count for row in conn.execute(select(widgets))}


def make_runner(engine, topology, amqp_url, spec, **kwargs):
    return ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                          [Subscription(spec, handler=count_widget, **kwargs)])


def publish(amqp_url, topology, messages):
    publisher = ConfirmingPublisher(amqp_url, topology.events_exchange)
    try:
        publisher.publish_batch(messages)
    finally:
        publisher.close()


def test_redelivered_messages_take_effect_once(engine, topology, amqp_url):
    spec = QueueSpec("widgets", ("widget.counted",))
    runner = make_runner(engine, topology, amqp_url, spec)
    thread = runner.start_thread()
    assert runner.connected.wait(10)
    message = Message(type="widget.counted", payload={"id": "a"})
    publish(amqp_url, topology, [message, message, Message(type="widget.counted", payload={"id": "b"})])
    wait_for(lambda: counts(engine) == {"a": 1, "b": 1}, message="each widget counted once")
    time.sleep(0.3)
    assert counts(engine) == {"a": 1, "b": 1}
    runner.stop()
    thread.join(10)


def test_failing_handler_retries_then_dead_letters_with_reason(engine, topology, amqp_url):
    spec = QueueSpec("widgets", ("widget.counted",), retry_delays_ms=(50, 100))
    runner = make_runner(engine, topology, amqp_url, spec)
    thread = runner.start_thread()
    assert runner.connected.wait(10)
    publish(amqp_url, topology, [Message(type="widget.counted", payload={"id": "bad", "fail": True}),
                                 Message(type="widget.counted", payload={"id": "good"})])
    dead = topology.dead_queue_name(topology.queue_name(spec))
    wait_for(lambda: queue_depth(dead) == 1, message="the poison message in the dead-letter queue")
    runner.stop()
    thread.join(10)
    [(props, body)] = drain_queue(dead)
    assert json.loads(body)["payload"]["id"] == "bad"
    assert "widget bad refuses" in props.headers["x-error"]
    assert props.headers["x-attempts"] == 2
    assert counts(engine) == {"good": 1}


def test_malformed_messages_go_straight_to_dead_letters(engine, topology, amqp_url):
    spec = QueueSpec("widgets", ("widget.#",), retry_delays_ms=(50,))
    runner = make_runner(engine, topology, amqp_url, spec)
    thread = runner.start_thread()
    assert runner.connected.wait(10)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    for body in (b"not json", b"[1,2]", json.dumps({"id": "x"}).encode(),
                 Message(type="widget.counted", payload={"wrong": 1}).to_body(),
                 Message(type="widget.unknown", payload={}).to_body()):
        channel.basic_publish(topology.events_exchange, "widget.counted", body)
    connection.close()
    dead = topology.dead_queue_name(topology.queue_name(spec))
    wait_for(lambda: queue_depth(dead) == 5, message="five malformed messages dead-lettered")
    runner.stop()
    thread.join(10)
    reasons = [props.headers["x-error"] for props, _ in drain_queue(dead)]
    assert "body is not JSON" in reasons[0]
    assert "must be a JSON object" in reasons[1]
    assert "envelope invalid" in reasons[2]
    assert "id" in reasons[3] and "wrong" in reasons[3]
    assert "no contract for widget.unknown" in reasons[4]


@pytest.mark.restarts_broker
def test_consumer_survives_a_broker_restart(engine, topology, amqp_url):
    spec = QueueSpec("widgets", ("widget.counted",))
    runner = make_runner(engine, topology, amqp_url, spec)
    thread = runner.start_thread()
    assert runner.connected.wait(10)
    publish(amqp_url, topology, [Message(type="widget.counted", payload={"id": "before"})])
    wait_for(lambda: counts(engine).get("before") == 1, message="the first message")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    wait_for(lambda: not runner.connected.is_set() or True, message="")
    wait_for(runner.connected.is_set, timeout=60, message="the consumer to reconnect")
    publish(amqp_url, topology, [Message(type="widget.counted", payload={"id": "after"})])
    wait_for(lambda: counts(engine).get("after") == 1, timeout=30, message="a message after the restart")
    runner.stop()
    thread.join(10)


def test_batch_handler_isolates_the_poison_message(engine, topology, amqp_url):
    seen_batches: list[int] = []

    def count_batch(uow, messages):
        seen_batches.append(len(messages))
        for message in messages:
            count_widget(uow, message)

    spec = QueueSpec("widgets", ("widget.counted",), retry_delays_ms=())
    runner = ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                            [Subscription(spec, batch_handler=count_batch, batch_size=50, linger_seconds=0.2)])
    messages = [Message(type="widget.counted", payload={"id": f"w{i}", "fail": i == 7}) for i in range(20)]
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        topology.declare(connection.channel(), spec)
    publish(amqp_url, topology, messages)
    thread = runner.start_thread()
    dead = topology.dead_queue_name(topology.queue_name(spec))
    wait_for(lambda: queue_depth(dead) == 1 and len(counts(engine)) == 19, message="19 counted, 1 dead")
    runner.stop()
    thread.join(10)
    assert max(seen_batches) > 1  # batches really were batched


def _inbox_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(TABLES.inbox.c.message_id)).scalars())


def _wiring(kind: str, handler) -> dict:
    """The subscription keyword of a per-message handler, or of a batch handler calling it for each."""
    if kind == "each":
        return {"handler": handler}
    return {"batch_handler": lambda uow, messages: [handler(uow, m) for m in messages]}


@pytest.mark.parametrize("kind", ["each", "batch"])
def test_a_poison_message_inside_a_batch_is_retried_then_dead_lettered_alone(engine, topology, amqp_url, kind):
    """A poison message inside a batch: retried then dead-lettered alone; the 19 others take effect once
    (per-message handlers: the batch in one transaction, then isolated; batch handlers: one each)."""
    calls: list[str] = []

    def count_and_note(uow, message):
        calls.append(message.payload["id"])
        count_widget(uow, message)
        uow.publish("widget.noted", {"id": message.payload["id"]})

    spec = QueueSpec("widgets", ("widget.counted",), retry_delays_ms=(50, 100))
    runner = ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                            [Subscription(spec, batch_size=50, linger_seconds=0.2, **_wiring(kind, count_and_note))])
    messages = [Message(type="widget.counted", payload={"id": f"w{i}", "fail": i == 7}) for i in range(20)]
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        topology.declare(connection.channel(), spec)
    publish(amqp_url, topology, messages)  # queued before the consumer starts: they arrive as one batch
    thread = runner.start_thread()
    dead = topology.dead_queue_name(topology.queue_name(spec))
    wait_for(lambda: queue_depth(dead) == 1, message="the poison message dead-lettered")
    runner.stop()
    thread.join(10)
    assert counts(engine) == {f"w{i}": 1 for i in range(20) if i != 7}
    # the batch holding w7 ran together, was rolled back and ran again isolated; the retries ran w7 again
    assert any(calls.count(f"w{i}") == 2 for i in range(20) if i != 7)
    assert calls.count("w7") >= 3
    [(props, body)] = drain_queue(dead)
    assert json.loads(body)["payload"]["id"] == "w7" and props.headers["x-attempts"] == 2
    good = sorted(m.id for m in messages if m.payload["id"] != "w7")
    assert _inbox_ids(engine) == good  # the failing message left no inbox row behind
    with engine.connect() as conn:  # what the rolled-back try published is gone; each good one once
        noted = sorted(conn.execute(select(TABLES.outbox.c.body)).scalars())
    assert sorted(json.loads(b)["payload"]["id"] for b in noted) == sorted(f"w{i}" for i in range(20) if i != 7)


@pytest.mark.parametrize("kind", ["each", "batch"])
def test_a_redelivered_batch_takes_effect_once(engine, topology, amqp_url, kind):
    """Messages whose ids the inbox holds (a redelivery after a crash before the ack) are skipped,
    also when a batch mixes them with new ones and repeats an id within itself."""
    spec = QueueSpec("widgets", ("widget.counted",))
    first = [Message(type="widget.counted", payload={"id": f"w{i}"}) for i in range(5)]
    runner = ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                            [Subscription(spec, batch_size=50, linger_seconds=0.2, **_wiring(kind, count_widget))])
    thread = runner.start_thread()
    assert runner.connected.wait(10)
    publish(amqp_url, topology, first)
    wait_for(lambda: len(counts(engine)) == 5, message="the first five counted")
    runner.stop()
    thread.join(10)
    again = first + [Message(type="widget.counted", payload={"id": "new"})] + first[:2]
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        topology.declare(connection.channel(), spec)
    publish(amqp_url, topology, again)
    runner = ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                            [Subscription(spec, batch_size=50, linger_seconds=0.2, **_wiring(kind, count_widget))])
    thread = runner.start_thread()
    wait_for(lambda: "new" in counts(engine), message="the new message counted")
    wait_for(lambda: queue_depth(topology.queue_name(spec)) == 0, message="the redelivered batch acked")
    runner.stop()
    thread.join(10)
    assert counts(engine) == {**{f"w{i}": 1 for i in range(5)}, "new": 1}


def test_per_message_handlers_run_in_one_pass_and_a_poison_message_fails_alone(engine, topology, amqp_url):
    calls: list[str] = []

    def count_and_announce(uow, message: Message) -> None:
        calls.append(message.payload["id"])
        count_widget(uow, message)
        uow.publish("widget.announced", {"id": message.payload["id"]})

    spec = QueueSpec("widgets", ("widget.counted",), retry_delays_ms=())
    runner = ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                            [Subscription(spec, handler=count_and_announce, batch_size=50, linger_seconds=0.2)])
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        topology.declare(connection.channel(), spec)
    publish(amqp_url, topology, [Message(type="widget.counted", payload={"id": f"c{i}"}) for i in range(10)])
    thread = runner.start_thread()
    try:
        wait_for(lambda: len(counts(engine)) == 10, message="a clean batch counted")
        assert len(calls) == 10  # one pass: no handler ran twice
        publish(amqp_url, topology, [Message(type="widget.counted", payload={"id": f"p{i}", "fail": i == 3})
                                     for i in range(10)])
        dead = topology.dead_queue_name(topology.queue_name(spec))
        wait_for(lambda: queue_depth(dead) == 1 and len(counts(engine)) == 19, message="9 more counted, 1 dead")
    finally:
        runner.stop()
        thread.join(10)
    assert set(counts(engine).values()) == {1}  # the rolled-back first pass left no trace
    with engine.connect() as conn:
        announced = [json.loads(body)["payload"]["id"] for body in
                     conn.execute(select(TABLES.outbox.c.body).order_by(TABLES.outbox.c.id)).scalars()]
    assert sorted(announced) == sorted([f"c{i}" for i in range(10)] + [f"p{i}" for i in range(10) if i != 3])


def test_a_subscription_on_its_own_thread_is_not_held_up_by_a_busy_main_thread(engine, topology, amqp_url):
    """The main thread's handler waits until the other thread has counted its widget: on one thread
    this could never finish (and the bounded wait would fail)."""
    counted_elsewhere = threading.Event()

    def slow(uow, message):
        assert counted_elsewhere.wait(15), "the other thread's message was held up behind this one"
        count_widget(uow, message)

    def elsewhere(uow, messages):
        for message in messages:
            count_widget(uow, message)
        counted_elsewhere.set()

    main_spec, other_spec = QueueSpec("slow", ("widget.counted",)), QueueSpec("other", ("widget.other",))
    runner = ConsumerRunner("test", amqp_url, topology, engine, TABLES,
                            [Subscription(main_spec, handler=slow),
                             Subscription(other_spec, batch_handler=elsewhere, thread="other")])
    assert [s.spec.name for s in runner.subscriptions] == ["slow"]
    thread = runner.start_thread()
    assert runner.connected.wait(15)
    publish(amqp_url, topology, [Message(type="widget.counted", payload={"id": "slow"})])
    time.sleep(0.2)  # let the main thread take it and block (the order only makes the test stricter)
    publish(amqp_url, topology, [Message(type="widget.other", payload={"id": "other"})])
    wait_for(lambda: counts(engine) == {"slow": 1, "other": 1}, message="both counted")
    runner.stop()
    thread.join(10)
    assert not runner.connected.is_set()
