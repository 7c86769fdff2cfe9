"""HTTP layer of the contacts service: parse with a schema, call a handler, dump with a schema.

Views hand handlers a `ContactsUnitOfWork`: `shared.http.context.unit_of_work()` to write,
`reading()` (below) to read.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from flask_smorest import Blueprint

from shared.http.context import units_of_work

READERS = ("marketer", "agent")
WRITERS = ("marketer", "ingest")


def reading() -> AbstractContextManager[Any]:
    """A `ContactsUnitOfWork` for reads only: its transaction is rolled back at the end."""
    return units_of_work().read()


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 text, recursively (Flask would write them as HTTP dates)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def blueprints() -> list[Blueprint]:
    """The service's blueprints."""
    from services.contacts.api import (
        contacts,
        events,
        imports,
        preference_center,
        segments,
        topics,
        unsubscribe,
    )

    return [contacts.blp, events.blp, segments.blp, imports.blp, topics.blp, unsubscribe.blp, preference_center.blp]
