"""HTTP layer of the contacts service: parse with a schema, call a handler, dump with a schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy import Connection

from services.contacts.repository import TABLES
from shared.http import ServiceContext
from shared.messaging import UnitOfWork, UnitOfWorkFactory

READERS = ("marketer", "agent")
WRITERS = ("marketer", "ingest")


def context() -> ServiceContext:
    """The service context the factory stored on the app."""
    return current_app.extensions["touchpoint"]


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """A transaction whose published messages go to the outbox."""
    with UnitOfWorkFactory(context().engine, TABLES, "contacts")() as uow:
        yield uow


@contextmanager
def reading() -> Iterator[Connection]:
    """A read-only connection."""
    with context().engine.connect() as conn:
        yield conn


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
    from services.contacts.api import contacts, events, imports, segments

    return [contacts.blp, events.blp, segments.blp, imports.blp]
