"""The sends campaigns requested (`step_sends`, keyed by request id) and every outcome reported for
them (`send_outcomes`): what branches on `step.<id>.outcome` and the report read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.repository.tables import send_outcomes, step_sends


class SendLog:
    """The queries on requested sends and their outcomes, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, rows: Sequence[Mapping[str, Any]], fresh: bool = False) -> set[str]:
        """Record sends; return the request ids that are new (a send already recorded is not new).

        `fresh=True` says the caller knows every row is new (enrollments it just created under a
        lock), which allows a plain bulk insert instead of insert-and-return.
        """
        if not rows:
            return set()
        if fresh:
            self.conn.execute(insert(step_sends), list(rows))
            return {row["request_id"] for row in rows}
        inserted = self.conn.execute(pg_insert(step_sends).on_conflict_do_nothing()
                                     .returning(step_sends.c.request_id), list(rows))
        return {row.request_id for row in inserted}

    def lock(self, request_id: str) -> Any | None:
        """The send (a row with status, enrollment_id, step_id), locked; None if it is not ours."""
        return self.conn.execute(select(step_sends.c.status, step_sends.c.enrollment_id, step_sends.c.step_id)
                                 .where(step_sends.c.request_id == request_id).with_for_update()).first()

    def record_outcome(self, request_id: str, outcome: str, reason: str | None, rule_id: str | None,
                       decided_at: datetime | str) -> None:
        """Keep an outcome of a send; the same outcome reported again is kept once."""
        self.conn.execute(pg_insert(send_outcomes).values(
            request_id=request_id, outcome=outcome, reason=reason, rule_id=rule_id,
            decided_at=decided_at).on_conflict_do_nothing())

    def set_status(self, request_id: str, status: str, reason: str | None, at: datetime | str) -> None:
        """Move a send to a further status."""
        self.conn.execute(update(step_sends).where(step_sends.c.request_id == request_id).values(
            status=status, reason=reason, updated_at=at))
