"""The one way a view reaches its service: the context, units of work, a read connection, the clock.

`create_service_app` builds a `ServiceContext` once and keeps it on the app; views call these
accessors instead of reading `current_app.extensions` themselves:

    with unit_of_work() as uow:          # a transaction whose messages go to the outbox
        return handlers.create(uow, body)
    with reading() as conn:              # a read-only connection
        return handlers.page(conn, ...)
    clock().now()                        # the service's injected Clock

A service whose handlers take their own unit of work (channels) passes `units_of_work=` to
`create_service_app`; `units_of_work()` then returns that factory (e.g. its `.read()`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from flask import current_app, g
from sqlalchemy import Connection

from shared.clock import Clock

if TYPE_CHECKING:
    from shared.http.app import ServiceContext

EXTENSION = "touchpoint"


def service_context() -> ServiceContext:
    """The service context the app factory stored on the running app."""
    return current_app.extensions[EXTENSION]


def units_of_work() -> Any:
    """The app's unit-of-work factory (`UnitOfWorkFactory`, or the one the service passed in)."""
    factory = service_context().units_of_work
    if factory is None:
        raise RuntimeError("this app was built without messaging tables: pass tables= to create_service_app")
    return factory


def unit_of_work() -> AbstractContextManager[Any]:
    """A unit of work: one transaction, committed (outbox flushed) when the block ends without error.

    Its audit trail (`uow.audit`) attributes what it records to the request's API key (None on the
    signed public pages), so handlers record changes without knowing who asked."""
    return _attributed(units_of_work()())


@contextmanager
def _attributed(opened: AbstractContextManager[Any]) -> Iterator[Any]:
    with opened as uow:
        audit = getattr(uow, "audit", None)
        if audit is not None:
            audit.actor = g.get("api_key")
        yield uow


@contextmanager
def reading() -> Iterator[Connection]:
    """A read-only connection of the app's engine."""
    with service_context().engine.connect() as conn:
        yield conn


def clock() -> Clock:
    """The clock the service decides by (tests inject a `ManualClock`)."""
    return service_context().clock
