"""The envelope every message travels in: id, type, version, time, source, partition key, payload."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.messaging.fastload import FastLoader

CONTENT_TYPE = "application/json"


class EnvelopeSchema(Schema):
    """Wire shape of a message body; the payload is checked separately by its contract."""

    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True)
    source = fields.String(required=True)
    key = fields.String(load_default=None, allow_none=True)
    payload = fields.Dict(required=True)


_ENVELOPE = EnvelopeSchema()
_ENVELOPE_LOADER = FastLoader(_ENVELOPE)  # every consumed message passes here: half the cost of load()


@dataclass(frozen=True)
class Message:
    """One message: what happened (`type`, `version`), to whom (`key`), and its payload."""

    type: str
    payload: dict[str, Any]
    version: int = 1
    key: str | None = None
    source: str = "touchpoint"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def routing_key(self) -> str:
        """The topic routing key: the message type."""
        return self.type

    def to_body(self) -> bytes:
        """Serialise to the JSON wire body."""
        return json.dumps(
            {
                "id": self.id,
                "type": self.type,
                "version": self.version,
                "occurred_at": self.occurred_at.isoformat(),
                "source": self.source,
                "key": self.key,
                "payload": self.payload,
            },
            separators=(",", ":"),
            default=str,
        ).encode()

    def headers(self) -> dict[str, Any]:
        """AMQP headers: the partition key (for consistent hashing) and the contract version."""
        headers: dict[str, Any] = {"version": self.version}
        if self.key is not None:
            headers["key"] = self.key
        return headers


class MalformedMessage(ValueError):
    """A body that is not a valid envelope or whose payload breaks its contract: never retried."""


def decode(body: bytes) -> Message:
    """Parse a wire body into a Message, or raise MalformedMessage naming what is wrong."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MalformedMessage("body must be a JSON object")
    try:
        data = _ENVELOPE_LOADER.load(raw)
    except ValidationError as exc:
        raise MalformedMessage(f"envelope invalid: {json.dumps(exc.messages, sort_keys=True)}") from exc
    return Message(
        type=data["type"],
        payload=data["payload"],
        version=data["version"],
        key=data["key"],
        source=data["source"],
        id=data["id"],
        occurred_at=data["occurred_at"],
    )
