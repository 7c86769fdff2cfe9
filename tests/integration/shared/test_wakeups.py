"""Idle tasks sleep on LISTEN/NOTIFY: a commit wakes them at once, and a missed notification costs
only the fallback, never a message. The fallbacks here are set far beyond the tests' bounds, so a
pass proves the notification did the waking."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert, text

from shared.messaging import OutboxRelay, UnitOfWorkFactory
from shared.messaging.listen import NotifyListener
from shared.messaging.outbox import wait_until_drained
from tests.integration.shared.conftest import TABLES
from tests.integration.shared.test_outbox import _declare
from tests.support import wait_for

pytestmark = pytest.mark.integration


def test_the_listener_calls_back_on_commit_only_and_once_on_connect(engine):
    calls: list[str] = []
    listener = NotifyListener(engine, {"tp_test_wake": calls.append})
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        assert listener.connected.wait(15)
        wait_for(lambda: calls == [""], message="the call on connect (look now)")
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.execute(text("NOTIFY tp_test_wake, 'rolled back'"))
            raise RuntimeError("roll back")
        with engine.begin() as conn:
            conn.execute(text("NOTIFY tp_test_wake, '42.5'"))
        wait_for(lambda: "42.5" in calls, message="the committed notification")
        assert "rolled back" not in calls
    finally:
        listener.stop()
        thread.join(15)
    assert not thread.is_alive()


def test_the_idle_relay_wakes_on_the_commit_not_on_its_fallback(engine, topology, amqp_url):
    _declare(topology, amqp_url)  # the exchange
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test", idle_sleep=3600.0)
    thread = relay.start_thread()
    try:
        wait_for(lambda: relay._listener._conn is not None, message="the relay listening")
        with UnitOfWorkFactory(engine, TABLES, "test")() as uow:
            uow.publish("widget.created", {"id": "w1"}, key="w1")
        assert wait_until_drained(engine, TABLES.outbox, timeout=15)
    finally:
        relay.stop()
        thread.join(15)


def test_a_row_whose_notification_was_missed_still_leaves_at_the_fallback(engine, topology, amqp_url):
    _declare(topology, amqp_url)  # the exchange
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test", idle_sleep=1.0)
    thread = relay.start_thread()
    try:
        wait_for(lambda: relay._listener._conn is not None, message="the relay listening")
        with engine.begin() as conn:  # an outbox row without NOTIFY, as if the notification was lost
            conn.execute(insert(TABLES.outbox).values(message_id="missed-1", routing_key="widget.created",
                                                      message_type="widget.created", version=1, body=b"{}"))
        assert wait_until_drained(engine, TABLES.outbox, timeout=15)
    finally:
        relay.stop()
        thread.join(15)


def test_an_idle_publisher_kept_alive_still_publishes(engine, topology, amqp_url):
    _declare(topology, amqp_url)  # the exchange
    relay = OutboxRelay(engine, TABLES, amqp_url, topology.events_exchange, "test")
    try:
        with UnitOfWorkFactory(engine, TABLES, "test")() as uow:
            uow.publish("widget.created", {"id": "a"}, key="a")
        assert relay.relay_once() == 1
        relay.publisher.keepalive()
        with UnitOfWorkFactory(engine, TABLES, "test")() as uow:
            uow.publish("widget.created", {"id": "b"}, key="b")
        assert relay.relay_once() == 1
    finally:
        relay.publisher.close()
    relay.publisher.keepalive()  # closed: nothing to do, no error
