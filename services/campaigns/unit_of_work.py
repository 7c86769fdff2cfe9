"""The campaigns service's unit of work: one transaction, its repositories and its outbox.

Handlers take a `CampaignsUnitOfWork` and touch the database only through its repositories, so a
unit test passes an in-memory fake with the same attributes (tests/unit/campaigns/fakes.py).
Consumers wrap the runner's `shared.messaging.UnitOfWork` in one; the HTTP app opens them through
`shared.http.context.unit_of_work()` and, for reads, `units_of_work().read()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from services.campaigns.repository import (
    TABLES,
    BroadcastRuns,
    CampaignStore,
    ContactProjection,
    EnrollmentStore,
    ReportQueries,
    SendLog,
    TemplateStore,
)
from shared.audit.log import AuditLog
from shared.messaging import Message, UnitOfWork, UnitOfWorkFactory

SOURCE = "campaigns"


class CampaignsUnitOfWork:
    """The repositories of one transaction plus `publish` / `flush` into its outbox."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.outbox = uow
        self.audit = AuditLog(uow.conn)  # the audit trail, recorded in this transaction
        conn = uow.conn
        self.campaigns = CampaignStore(conn)
        self.templates = TemplateStore(conn)
        self.enrollments = EnrollmentStore(conn)
        self.sends = SendLog(conn)
        self.broadcasts = BroadcastRuns(conn)
        self.contacts = ContactProjection(conn)
        self.reports = ReportQueries(conn)

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None) -> Message:
        """Write a message to the outbox; it leaves only if the transaction commits."""
        return self.outbox.publish(message_type, payload, key=key)

    def flush(self) -> None:
        """Insert what was published so far into the outbox now (bounds memory in long batches)."""
        self.outbox.flush()


class CampaignsUnitOfWorkFactory:
    """Opens campaigns units of work on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = UnitOfWorkFactory(engine, TABLES, SOURCE)

    @contextmanager
    def __call__(self) -> Iterator[CampaignsUnitOfWork]:
        """A transaction that flushes the outbox and commits when the block ends without error."""
        with self._factory() as uow:
            yield CampaignsUnitOfWork(uow)

    @contextmanager
    def read(self) -> Iterator[CampaignsUnitOfWork]:
        """A connection whose transaction is rolled back at the end: reads only."""
        with self.engine.connect() as conn:
            yield CampaignsUnitOfWork(UnitOfWork(conn, TABLES, SOURCE))

