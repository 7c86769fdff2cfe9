"""`TopicStore`: the preference center's topic catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.contacts.repository.tables import topics


class TopicStore:
    """The catalogue's queries, bound to one transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self) -> Sequence[Row]:
        """Every topic, by key."""
        return self.conn.execute(select(topics).order_by(topics.c.key)).all()

    def put(self, key: str, labels: dict[str, str], stamp: datetime) -> Any:
        """Create a topic or replace its labels; the row."""
        return self.conn.execute(pg_insert(topics).values(key=key, labels=labels, created_at=stamp, updated_at=stamp)
                                 .on_conflict_do_update(index_elements=["key"],
                                                        set_={"labels": labels, "updated_at": stamp})
                                 .returning(*topics.c)).first()

    def delete(self, key: str) -> bool:
        """Remove a topic from the catalogue; whether there was one."""
        return self.conn.execute(topics.delete().where(topics.c.key == key)).rowcount > 0
