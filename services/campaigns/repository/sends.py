"""The sends campaigns requested (`step_sends`, keyed by request id) and every outcome reported for
them (`send_outcomes`): what branches on `step.<id>.outcome` and the report read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.repository.tables import send_outcomes, step_sends

# One UPDATE ... FROM unnest(arrays) for a batch: one statement text (prepared once) and one
# execution whatever the batch size, instead of an UPDATE per send.
_SET_STATUSES = text(
    "UPDATE step_sends AS s SET status = v.status, reason = v.reason, updated_at = v.updated_at "
    "FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[]), CAST(:reasons AS text[]), "
    "CAST(:ats AS timestamptz[])) AS v(request_id, status, reason, updated_at) "
    "WHERE s.request_id = v.request_id")

_ADD_NEW = pg_insert(step_sends).on_conflict_do_nothing().returning(step_sends.c.request_id)


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
        inserted = self.conn.execute(_ADD_NEW, list(rows))
        return {row.request_id for row in inserted}

    def lock_many(self, request_ids: Iterable[str]) -> dict[str, Any]:
        """The sends among these request ids (rows with status, enrollment_id, step_id) by request id,
        locked in request id order (two workers' batches never wait on each other in a cycle)."""
        ids = sorted(set(request_ids))
        if not ids:
            return {}
        return {row.request_id: row for row in self.conn.execute(
            select(step_sends.c.request_id, step_sends.c.status, step_sends.c.enrollment_id, step_sends.c.step_id)
            .where(step_sends.c.request_id.in_(ids)).order_by(step_sends.c.request_id).with_for_update())}

    def record_outcomes(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Keep outcomes (request_id, outcome, reason, rule_id, decided_at); one already kept stays as it was."""
        if rows:  # executemany: one cached statement, not a new VALUES list to compile per batch size
            self.conn.execute(pg_insert(send_outcomes).on_conflict_do_nothing(), list(rows))

    def set_statuses(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Move sends to further statuses (request_id, status, reason, updated_at), in one statement."""
        if rows:
            self.conn.execute(_SET_STATUSES, {"ids": [r["request_id"] for r in rows],
                                              "statuses": [r["status"] for r in rows],
                                              "reasons": [r["reason"] for r in rows],
                                              "ats": [r["updated_at"] for r in rows]})
