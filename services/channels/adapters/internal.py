"""Adapters that deliver into Touchpoint itself: the call-center task queue and web offers.

Both write one row per request (idempotent on request_id) through the service's `AgentQueue`
repository (never its tables), which agents and the website then read through the channels API;
outcomes flow back as `interaction.recorded`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage, RetryPolicy
from services.channels.repository.agent_queue import AgentQueue


class _DatabaseAdapter(ChannelAdapter):
    rate_limit_per_second = 1000.0
    retry_policy = RetryPolicy(max_attempts=5, backoff_seconds=1.0)
    # Each send is a short transaction on the service's own pool: a few at once, not the whole pool.
    max_in_flight = 2

    def _engine(self):
        if self.context is None or self.context.engine is None:
            raise RuntimeError(f"{self.__class__.__name__} needs the service database")
        return self.context.engine

    def _insert(self, add: Callable[[AgentQueue], int], prefix: str) -> DeliveryResult:
        with self._engine().begin() as conn:
            row_id = add(AgentQueue(conn))
        return DeliveryResult("sent", f"{prefix}:{row_id}", f"{prefix} {row_id} created")


class CallCenterAdapter(_DatabaseAdapter):
    """A call becomes an open task in the agents' queue; it expires if nobody claims it in time.

    Options: task_ttl_seconds (default 86400) when the request has no expiry of its own.
    """

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Queue a call task."""
        ttl = timedelta(seconds=float(self.options.get("task_ttl_seconds", 86_400)))
        expires_at = message.expires_at or datetime.now(UTC) + ttl
        return self._insert(lambda queue: queue.add_call_task({
            "request_id": message.request_id, "contact_id": message.contact_id,
            "campaign_id": message.campaign_id, "priority": message.priority, "status": "open",
            "script": {**dict(message.content), "contact": {"first_name": message.recipient.first_name,
                                                             "last_name": message.recipient.last_name,
                                                             "phone": message.recipient.phone}},
            "expires_at": expires_at}), "task")


class WebOffersAdapter(_DatabaseAdapter):
    """An offer on the contact's personal page, until accepted, dismissed or expired."""

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Publish the offer to the contact's page."""
        return self._insert(lambda queue: queue.add_offer({
            "request_id": message.request_id, "contact_id": message.contact_id,
            "campaign_id": message.campaign_id, "priority": message.priority, "status": "active",
            "content": dict(message.content), "expires_at": message.expires_at}), "offer")
