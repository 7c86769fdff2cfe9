"""The consumer loop blocks on the broker while idle: how long it may block, by the batches it holds."""

from __future__ import annotations

import pytest

from shared.messaging.consumer import ConsumerRunner, Subscription, _Delivery, _Feed
from shared.messaging.topology import QueueSpec


def feed(linger: float, buffered_since: float | None = None) -> _Feed:
    f = _Feed(Subscription(QueueSpec("q", ("a",)), handler=lambda uow, m: None, linger_seconds=linger), "q")
    if buffered_since is not None:
        f.buffer.append(_Delivery(1, None, b""))
        f.first_at = buffered_since
    return f


def runner(idle_wait: float = 5.0) -> ConsumerRunner:
    return ConsumerRunner("svc", "amqp://", None, None, None, [], idle_wait=idle_wait)


def test_with_nothing_buffered_it_blocks_up_to_the_idle_wait():
    assert runner(5.0)._time_limit([feed(0.01), feed(0.02)], now=100.0) == 5.0


def test_a_buffered_batch_waits_only_the_rest_of_its_linger():
    feeds = [feed(0.01), feed(0.02, buffered_since=100.0), feed(0.05, buffered_since=99.99)]
    assert runner()._time_limit(feeds, now=100.005) == pytest.approx(0.015)


def test_an_overdue_batch_does_not_block_at_all():
    assert runner()._time_limit([feed(0.01, buffered_since=90.0)], now=100.0) == 0.0
