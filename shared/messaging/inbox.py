"""The inbox: which message ids a consumer has already processed, so redeliveries take effect once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.periodic import PeriodicTask

log = logging.getLogger(__name__)


def inbox_table(metadata: MetaData) -> Table:
    """Define the inbox table on a service's metadata."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(128), nullable=False),
        Column("message_id", String(128), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "message_id", name="pk_inbox"),
    )


def claim(conn: Connection, inbox: Table, consumer: str, message_id: str) -> bool:
    """Record that `consumer` processes `message_id` in this transaction; False if it already did."""
    result = conn.execute(
        pg_insert(inbox).values(consumer=consumer, message_id=message_id)
        .on_conflict_do_nothing(index_elements=["consumer", "message_id"])
        .returning(inbox.c.message_id)
    )
    return result.first() is not None


_CLAIMS: dict[Table, Any] = {}


def _claim_statement(inbox: Table) -> Any:
    """The claim INSERT of one inbox table, built once: every batch of every consumer runs it."""
    statement = _CLAIMS.get(inbox)
    if statement is None:
        statement = _CLAIMS[inbox] = (pg_insert(inbox).on_conflict_do_nothing(index_elements=["consumer", "message_id"])
                                      .returning(inbox.c.message_id))
    return statement


def claim_many(conn: Connection, inbox: Table, consumer: str, message_ids: list[str]) -> set[str]:
    """Claim several message ids in one statement (sorted, so concurrent claimers take row locks in the
    same order); return the ids this transaction claimed."""
    ids = sorted(set(message_ids))
    if not ids:
        return set()
    # executemany with RETURNING: SQLAlchemy sends multi-row INSERTs of one cached statement (a VALUES
    # list built per call was compiled anew for every batch size, ~10 % of a small consumer's CPU).
    result = conn.execute(_claim_statement(inbox), [{"consumer": consumer, "message_id": i} for i in ids])
    return set(result.scalars())


def purge(conn: Connection, inbox: Table, older_than: timedelta = timedelta(days=14)) -> int:
    """Forget processed ids older than the longest possible redelivery delay."""
    cutoff = datetime.now(UTC) - older_than
    return conn.execute(delete(inbox).where(inbox.c.processed_at < cutoff)).rowcount


class InboxJanitor(PeriodicTask):
    """Purges old inbox rows once an hour, so the inbox stays the size of the redelivery window.

    A failed purge (the database may be down) is logged with its traceback and retried after a backoff.
    """

    def __init__(self, engine: Engine, inbox: Table, older_than: timedelta = timedelta(days=14),
                 interval_seconds: float = 3600.0) -> None:
        super().__init__("inbox purge", self.purge_once, interval=interval_seconds,
                         first_backoff=min(60.0, interval_seconds), logger=log)
        self.engine = engine
        self.inbox = inbox
        self.older_than = older_than

    def purge_once(self) -> None:
        """One purge in its own transaction."""
        with self.engine.begin() as conn:
            purged = purge(conn, self.inbox, self.older_than)
        if purged:
            log.info("inbox purged", extra={"rows": purged})
