"""The contacts service's unit of work: one transaction, its repositories and its outbox.

Handlers take a `ContactsUnitOfWork` and touch the database only through its repositories, so a
unit test passes in-memory fakes with the same attributes (tests/unit/contacts/fakes.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from services.contacts.repository import (
    TABLES,
    ContactStore,
    EventStore,
    ImportJobs,
    SegmentStore,
    TopicStore,
)
from shared.audit.log import AuditLog
from shared.clock import Clock, system_clock
from shared.messaging import Message, UnitOfWork, UnitOfWorkFactory

SOURCE = "contacts"


class ContactsUnitOfWork:
    """The repositories of one transaction plus `publish` into its outbox."""

    def __init__(self, uow: UnitOfWork, clock: Clock = system_clock) -> None:
        self.outbox = uow
        self.audit = AuditLog(uow.conn)  # the audit trail, recorded in this transaction
        self.clock = clock  # stamps what the handlers record (contacts decides by real time in service)
        conn = uow.conn
        self.contacts = ContactStore(conn)
        self.events = EventStore(conn)
        self.segments = SegmentStore(conn)
        self.imports = ImportJobs(conn)
        self.topics = TopicStore(conn)

    @property
    def source(self) -> str:
        """The service named as the source of the messages published here."""
        return self.outbox.source

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None, **fields: Any) -> Message:
        """Write a message to the outbox; it leaves only if the transaction commits."""
        return self.outbox.publish(message_type, payload, key=key, **fields)


class ContactsUnitOfWorkFactory:
    """Opens contacts units of work on one engine."""

    def __init__(self, engine: Engine, source: str = SOURCE, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.source = source
        self.clock = clock
        self._factory = UnitOfWorkFactory(engine, TABLES, source)

    @contextmanager
    def __call__(self) -> Iterator[ContactsUnitOfWork]:
        """A transaction that flushes the outbox and commits when the block ends without error."""
        with self._factory() as uow:
            yield ContactsUnitOfWork(uow, self.clock)

    @contextmanager
    def read(self) -> Iterator[ContactsUnitOfWork]:
        """A connection for reads only: its transaction is rolled back when the block ends."""
        with self.engine.connect() as conn:
            yield ContactsUnitOfWork(UnitOfWork(conn, TABLES, self.source), self.clock)
            conn.rollback()
