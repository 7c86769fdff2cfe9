"""Envelope decoding and contract validation: pure, no broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts import register_contracts
from shared.messaging import MalformedMessage, Message, decode, validate_payload
from shared.messaging.topology import QueueSpec, Topology

register_contracts()  # as a service process does at start-up


def test_roundtrip():
    message = Message(type="contact.event.withdrawal", key="c1", source="contacts",
                      payload={"event_id": "e1", "contact_id": "c1", "type": "withdrawal",
                               "occurred_at": "2026-11-23T10:00:00+00:00", "data": {"amount": 12000}})
    decoded = decode(message.to_body())
    assert decoded == message
    loaded = validate_payload(decoded)
    assert loaded["occurred_at"] == datetime(2026, 11, 23, 10, tzinfo=UTC)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_malformed(raw):
    try:
        decoded = decode(raw)
    except MalformedMessage:
        return
    assert decoded.type and decoded.version >= 1


@pytest.mark.parametrize(("message_type", "payload", "needle"), [
    ("message.requested", {"request_id": "r"}, "contact_id"),
    ("message.sent", {"request_id": "r", "contact_id": "c", "channel": "email", "outcome": "nope",
                      "decided_at": "2026-01-01T00:00:00+00:00"}, "outcome"),
    ("contact.suppression.changed", {"contact_id": "c", "suppression_id": "s", "scope": "global", "reason": "x",
                                     "active": True, "changed_at": "2026-01-01T00:00:00+00:00"}, "reason"),
    ("contact.event.withdrawal", {"event_id": "e", "contact_id": "c", "type": "withdrawal",
                                  "occurred_at": "2026-01-01T00:00:00", "data": {}}, "occurred_at"),
    ("schedule.requested", {"entry_id": "e", "due_at": "2026-01-01T00:00:00+00:00", "message_type": "rm -rf",
                            "payload": {}}, "message_type"),
])
def test_contract_violations_name_the_field(message_type, payload, needle):
    with pytest.raises(MalformedMessage) as info:
        validate_payload(Message(type=message_type, payload=payload))
    assert needle in str(info.value)


def test_unknown_type_has_no_contract():
    with pytest.raises(MalformedMessage, match="no contract"):
        validate_payload(Message(type="nobody.knows", payload={}))


def test_envelope_requires_type_and_version():
    body = json.dumps({"id": "1", "type": "Bad Type", "version": 0, "occurred_at": "2026-01-01T00:00:00+00:00",
                       "source": "x", "payload": {}}).encode()
    with pytest.raises(MalformedMessage) as info:
        decode(body)
    assert "type" in str(info.value) and "version" in str(info.value)


def test_topology_names():
    topology = Topology("tp")
    spec = QueueSpec("channels.dispatch", ("message.requested",), shards=4)
    assert topology.shard_queue_names(spec) == [f"tp.channels.dispatch.{i}" for i in range(4)]
    assert Topology.retry_queue_name("tp.q", 2) == "tp.q.retry.2"
    assert Topology.dead_queue_name("tp.q") == "tp.q.dead"
