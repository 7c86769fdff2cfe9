"""The campaigns service on the real broker and database, driven the way the other services would drive it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pika
import pytest

from services.campaigns.service import DEFINITION
from shared.contracts import register_contracts
from shared.messaging import Message
from shared.messaging.publisher import ConfirmingPublisher
from tests.support import ServiceHarness, current_amqp_url, wait_for

register_contracts()  # as a service process does at start-up


class Tap:
    """A queue in the test namespace that catches what the service publishes."""

    def __init__(self, namespace: str, bindings: tuple[str, ...]) -> None:
        self.queue = f"{namespace}.tap.{uuid.uuid4().hex[:8]}"
        self.seen: list[dict[str, Any]] = []
        self._connection = pika.BlockingConnection(pika.URLParameters(current_amqp_url()))
        self._channel = self._connection.channel()
        self._channel.exchange_declare(f"{namespace}.events", exchange_type="topic", durable=True)
        self._channel.queue_declare(self.queue, auto_delete=False)
        for key in bindings:
            self._channel.queue_bind(self.queue, f"{namespace}.events", routing_key=key)

    def poll(self) -> list[dict[str, Any]]:
        """Everything caught so far (envelopes as dicts)."""
        while True:
            method, _props, body = self._channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.seen
            self.seen.append(json.loads(body))

    def of(self, message_type: str, **payload_match: Any) -> list[dict[str, Any]]:
        """Caught payloads of a type whose fields equal the given ones."""
        return [m["payload"] for m in self.poll() if m["type"] == message_type
                and all(m["payload"].get(k) == v for k, v in payload_match.items())]

    def wait(self, message_type: str, count: int = 1, timeout: float = 15.0, **match: Any) -> list[dict]:
        """Wait until at least `count` matching messages were caught; return them."""
        wait_for(lambda: len(self.of(message_type, **match)) >= count, timeout=timeout,
                 message=f"{count} x {message_type} {match}")
        return self.of(message_type, **match)

    def close(self) -> None:
        """Delete the queue."""
        self._channel.queue_delete(self.queue)
        self._connection.close()


class Driver:
    """Publishes what contacts, the scheduler and channels would publish, in the test namespace."""

    def __init__(self, namespace: str) -> None:
        self.publisher = ConfirmingPublisher(current_amqp_url(), f"{namespace}.events")

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None,
                message_id: str | None = None) -> Message:
        """Publish one message (a fixed id makes a redelivery look like one)."""
        fields: dict[str, Any] = {"type": message_type, "payload": payload, "key": key, "source": "test"}
        if message_id:
            fields["id"] = message_id
        message = Message(**fields)
        self.publisher.publish(message)
        return message

    def contact(self, contact_id: str, **attributes: Any) -> None:
        """contact.upserted as the contacts service sends it."""
        self.publish("contact.upserted", {
            "contact_id": contact_id, "email": f"{contact_id}@example.com", "phone": "+31612345678",
            "first_name": "Jane", "last_name": "Doe", "time_zone": "Europe/Amsterdam",
            "attributes": attributes, "updated_at": datetime.now(UTC).isoformat()}, key=contact_id)

    def event(self, contact_id: str, event_type: str, event_id: str | None = None,
              message_id: str | None = None, **data: Any) -> str:
        """contact.event.<type>; returns the event id."""
        event_id = event_id or f"ev-{uuid.uuid4().hex[:12]}"
        self.publish(f"contact.event.{event_type}", {
            "event_id": event_id, "contact_id": contact_id, "type": event_type,
            "occurred_at": datetime.now(UTC).isoformat(), "data": data}, key=contact_id, message_id=message_id)
        return event_id

    def step_due(self, schedule_request: dict[str, Any]) -> None:
        """What the scheduler publishes when a requested wake is due."""
        self.publish("step.due", schedule_request["payload"], key=schedule_request.get("key"))

    def outcome(self, request: dict[str, Any], outcome: str, **extra: Any) -> None:
        """A gate decision or delivery outcome for a request, as channels reports it."""
        self.publish(f"message.{outcome}", {
            "request_id": request["request_id"], "contact_id": request["contact_id"], "channel": request["channel"],
            "outcome": outcome, "campaign_id": request["campaign_id"], "step_id": request["step_id"],
            "decided_at": datetime.now(UTC).isoformat(), **extra}, key=request["contact_id"])

    def close(self) -> None:
        """Close the connection."""
        self.publisher.close()


def start_harness(namespace: str, auth_database_url: str, api_keys: dict[str, str],
                  name: str, **extra_env: str) -> ServiceHarness:
    """A migrated campaigns database and a running worker on the namespace."""
    harness = ServiceHarness(DEFINITION, namespace, auth_database_url, api_keys, database_name=name,
                             extra_env=extra_env)
    harness.start_worker()
    return harness


@pytest.fixture(scope="module")
def campaigns(broker_namespace: str, auth_database_url: str, api_keys: dict[str, str]) -> Iterator[ServiceHarness]:
    """The campaigns service with a running worker (one per test module)."""
    harness = start_harness(broker_namespace, auth_database_url, api_keys, "campaigns")
    yield harness
    harness.close()


@pytest.fixture
def tap(broker_namespace: str) -> Iterator[Tap]:
    """Catches what campaigns publishes to the other services."""
    t = Tap(broker_namespace, ("message.requested", "schedule.#", "interaction.recorded"))
    yield t
    t.close()


@pytest.fixture
def driver(broker_namespace: str) -> Iterator[Driver]:
    """Publishes as the other services would."""
    d = Driver(broker_namespace)
    yield d
    d.close()


def activate(harness: ServiceHarness, definition: dict[str, Any]) -> str:
    """Create and activate a campaign through the API; return its id."""
    created = harness.post("/campaigns", json=definition, role="marketer")
    assert created.status_code == 201, created.get_json()
    campaign_id = created.get_json()["campaign_id"]
    activated = harness.post(f"/campaigns/{campaign_id}/activate", role="marketer")
    assert activated.status_code == 200, activated.get_json()
    return campaign_id
