"""Message contracts: the marshmallow schema of each message type's payload, by type and version.

Services register the contracts they publish; consumers validate every payload against the
registered contract before a handler sees it, so a malformed message is dead-lettered with the
field that broke it instead of crashing a handler.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fnmatch import fnmatchcase

from marshmallow import Schema, ValidationError

from shared.messaging.envelope import MalformedMessage, Message
from shared.messaging.fastload import FastLoader

_REGISTRY: dict[tuple[str, int], Callable[[], Schema]] = {}
# Building a marshmallow schema deep-copies its fields (~0.5 ms); a consumer validating thousands of
# messages per second reuses one instance per type and version (load() keeps no state on the schema),
# behind a FastLoader (the same result or refusal at about half the cost, see fastload.py).
_SCHEMAS: dict[tuple[str, int], FastLoader | None] = {}


def register(type_pattern: str, version: int, schema_factory: Callable[[], Schema]) -> None:
    """Register the payload schema of `type_pattern` (fnmatch, e.g. `contact.event.*`) at `version`."""
    _REGISTRY[(type_pattern, version)] = schema_factory
    _SCHEMAS.clear()


def contract(type_pattern: str, version: int = 1) -> Callable[[type[Schema]], type[Schema]]:
    """Class decorator: register a payload schema for a message type and version."""

    def wrap(schema_cls: type[Schema]) -> type[Schema]:
        register(type_pattern, version, schema_cls)
        return schema_cls

    return wrap


def schema_for(message_type: str, version: int) -> Schema | None:
    """Return the payload schema of a type/version; exact matches win over patterns."""
    factory = _REGISTRY.get((message_type, version))
    if factory is None:
        for (pattern, ver), candidate in _REGISTRY.items():
            if ver == version and fnmatchcase(message_type, pattern):
                factory = candidate
                break
    return factory() if factory else None


def _cached_loader(message_type: str, version: int) -> FastLoader | None:
    key = (message_type, version)
    if key not in _SCHEMAS:
        schema = schema_for(message_type, version)
        _SCHEMAS[key] = FastLoader(schema) if schema is not None else None
    return _SCHEMAS[key]


def validate_payload(message: Message, require_contract: bool = True) -> dict:
    """Load `message.payload` through its contract; raise MalformedMessage naming the bad fields."""
    loader = _cached_loader(message.type, message.version)
    if loader is None:
        if require_contract:
            raise MalformedMessage(f"no contract for {message.type} v{message.version}")
        return message.payload
    try:
        return loader.load(message.payload)
    except ValidationError as exc:
        raise MalformedMessage(
            f"payload of {message.type} v{message.version} invalid: {json.dumps(exc.messages, sort_keys=True, default=str)}"
        ) from exc
