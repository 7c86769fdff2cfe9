"""Idle delivery workers: each has its own wake-up event, and after an empty lease a worker leases again
only when woken, when a retry of its own comes due, or at its fallback poll. No database."""

from __future__ import annotations

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage
from services.channels.delivery import DeliveryWorker
from services.channels.wakeups import DeliveryWakeups


class Quiet(ChannelAdapter):
    def send(self, message: RenderedMessage) -> DeliveryResult:
        return DeliveryResult("sent", "id", "ok")


def test_every_worker_of_a_channel_gets_its_own_event_and_every_one_is_woken():
    wakeups = DeliveryWakeups(engine=None, channels=["email"])
    first, second = wakeups.event("email"), wakeups.event("email")
    assert first is not second
    wakeups._wake_all()
    first.clear()  # the first worker leases; the second must still see the wake-up
    assert second.is_set()


def test_after_an_empty_lease_only_a_wake_up_a_due_retry_or_the_poll_brings_a_lease():
    wakeups = DeliveryWakeups(engine=None, channels=["quiet"])
    worker = DeliveryWorker(engine=None, adapter=Quiet("quiet"), wakeup=wakeups.event("quiet"),
                            poll_seconds=30.0)
    try:
        assert worker._may_find_jobs(100.0)  # nothing leased yet
        worker._dry, worker._empty_at = True, 100.0
        assert not worker._may_find_jobs(100.05)
        worker.wakeup.set()
        assert worker._may_find_jobs(100.05)
        worker.wakeup.clear()
        worker._next_retry = 101.0
        assert not worker._may_find_jobs(100.5) and worker._may_find_jobs(101.0)
        worker._next_retry = float("inf")
        assert worker._may_find_jobs(130.0)  # the fallback poll
    finally:
        worker.lane.close()
