"""Adapters that deliver into Touchpoint itself: the call-center task queue and web offers.

Both write one row per request (idempotent on request_id), which agents and the website then read
through the channels API; outcomes flow back as `interaction.recorded`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage, RetryPolicy
from services.channels.repository import call_tasks, offers


class _DatabaseAdapter(ChannelAdapter):
    rate_limit_per_second = 1000.0
    retry_policy = RetryPolicy(max_attempts=5, backoff_seconds=1.0)

    def _engine(self):
        if self.context is None or self.context.engine is None:
            raise RuntimeError(f"{self.__class__.__name__} needs the service database")
        return self.context.engine

    def _insert(self, table, row: dict, prefix: str, request_id: str) -> DeliveryResult:
        with self._engine().begin() as conn:
            conn.execute(pg_insert(table).values(**row).on_conflict_do_nothing(index_elements=["request_id"]))
            row_id = conn.execute(select(table.c.id).where(table.c.request_id == request_id)).scalar_one()
        return DeliveryResult("sent", f"{prefix}:{row_id}", f"{prefix} {row_id} created")


class CallCenterAdapter(_DatabaseAdapter):
    """A call becomes an open task in the agents' queue; it expires if nobody claims it in time.

    Options: task_ttl_seconds (default 86400) when the request has no expiry of its own.
    """

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Queue a call task."""
        ttl = timedelta(seconds=float(self.options.get("task_ttl_seconds", 86_400)))
        expires_at = message.expires_at or datetime.now(UTC) + ttl
        return self._insert(call_tasks, {
            "request_id": message.request_id, "contact_id": message.contact_id,
            "campaign_id": message.campaign_id, "priority": message.priority, "status": "open",
            "script": {**dict(message.content), "contact": {"first_name": message.recipient.first_name,
                                                             "last_name": message.recipient.last_name,
                                                             "phone": message.recipient.phone}},
            "expires_at": expires_at}, "task", message.request_id)


class WebOffersAdapter(_DatabaseAdapter):
    """An offer on the contact's personal page, until accepted, dismissed or expired."""

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Publish the offer to the contact's page."""
        return self._insert(offers, {
            "request_id": message.request_id, "contact_id": message.contact_id,
            "campaign_id": message.campaign_id, "priority": message.priority, "status": "active",
            "content": dict(message.content), "expires_at": message.expires_at}, "offer", message.request_id)
