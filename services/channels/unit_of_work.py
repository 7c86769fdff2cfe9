"""The channels service's unit of work: one transaction, its repositories and its outbox.

Handlers take a `ChannelsUnitOfWork` and touch the database only through its repositories, so a
unit test passes in-memory fakes with the same attributes (tests/unit/channels/fakes.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from services.channels.repository import TABLES
from services.channels.repository.agent_queue import AgentQueue
from services.channels.repository.contacts import ContactCopy
from services.channels.repository.decision_log import DecisionLog
from services.channels.repository.jobs import DeliveryJobs
from services.channels.repository.ledger import TouchLedger
from services.channels.repository.planned import PlannedSends
from services.channels.repository.rules_store import RulesStore
from shared.audit.log import AuditLog
from shared.clock import Clock, system_clock
from shared.messaging import Message, UnitOfWork, UnitOfWorkFactory

SOURCE = "channels"


class ChannelsUnitOfWork:
    """The repositories of one transaction plus `publish` into its outbox, and the clock that stamps it."""

    def __init__(self, uow: UnitOfWork, clock: Clock = system_clock) -> None:
        self.outbox = uow
        self.audit = AuditLog(uow.conn)  # the audit trail, recorded in this transaction
        self.clock = clock
        conn = uow.conn
        self.contacts = ContactCopy(conn)
        self.ledger = TouchLedger(conn)
        self.decisions = DecisionLog(conn)
        self.jobs = DeliveryJobs(conn)
        self.rules = RulesStore(conn)
        self.agent_queue = AgentQueue(conn)
        self.planned = PlannedSends(conn)

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None) -> Message:
        """Write a message to the outbox; it leaves only if the transaction commits."""
        return self.outbox.publish(message_type, payload, key=key)


class ChannelsUnitOfWorkFactory:
    """Opens channels units of work on one engine."""

    def __init__(self, engine: Engine, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.clock = clock
        self._factory = UnitOfWorkFactory(engine, TABLES, SOURCE)

    @contextmanager
    def __call__(self) -> Iterator[ChannelsUnitOfWork]:
        """A transaction that flushes the outbox and commits when the block ends without error."""
        with self._factory() as uow:
            yield ChannelsUnitOfWork(uow, self.clock)

    @contextmanager
    def read(self) -> Iterator[ChannelsUnitOfWork]:
        """A transaction that is always rolled back: reads only (not even seeded defaults are kept)."""
        with self.engine.connect() as conn:
            yield ChannelsUnitOfWork(UnitOfWork(conn, TABLES, SOURCE), self.clock)
            conn.rollback()
