"""Broadcast runs (`broadcast_runs`): one row per campaign and fire time, counting pages and enrollments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.campaigns.repository.tables import broadcast_runs


class BroadcastRuns:
    """The queries on broadcast runs, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def start(self, campaign_id: str, occurrence: str, version: int, segment_id: str) -> bool:
        """Record the start of a run; False when this fire time has run already."""
        return self.conn.execute(pg_insert(broadcast_runs).values(
            campaign_id=campaign_id, occurrence=occurrence, version=version, segment_id=segment_id,
        ).on_conflict_do_nothing().returning(broadcast_runs.c.occurrence)).first() is not None

    def lock(self, campaign_id: str, occurrence: str) -> None:
        """Lock the run for the rest of the transaction: one page of a run at a time."""
        self.conn.execute(select(broadcast_runs.c.pages).where(
            broadcast_runs.c.campaign_id == campaign_id, broadcast_runs.c.occurrence == occurrence).with_for_update())

    def count_page(self, campaign_id: str, occurrence: str, enrolled: int, finished_at: datetime | None) -> None:
        """Add one page and its enrollments to the run; `finished_at` marks the run done."""
        values: dict[str, Any] = {"pages": broadcast_runs.c.pages + 1,
                                  "enrolled": broadcast_runs.c.enrolled + enrolled}
        if finished_at is not None:
            values["finished_at"] = finished_at
        self.conn.execute(update(broadcast_runs).where(broadcast_runs.c.campaign_id == campaign_id,
                                                       broadcast_runs.c.occurrence == occurrence).values(**values))
