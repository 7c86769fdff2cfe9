"""A tiny service database for exercising the messaging layer: outbox, inbox and a `widgets` table."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from shared.db.engine import make_engine
from shared.messaging.outbox import MessagingTables
from tests.support import fresh_database

metadata = MetaData()
TABLES = MessagingTables(metadata)
widgets = Table("widgets", metadata, Column("id", String(64), primary_key=True), Column("count", Integer))


@pytest.fixture(scope="session")
def messaging_db_url(pg_root: str) -> str:
    """URL of the messaging test database, created fresh for the run."""
    url = fresh_database("shared")
    engine = make_engine(url)
    metadata.create_all(engine)  # test-only schema; services migrate with Alembic
    engine.dispose()
    return url


@pytest.fixture
def engine(messaging_db_url: str):
    """An engine on an emptied messaging test database."""
    eng = make_engine(messaging_db_url)
    with eng.begin() as conn:
        conn.execute(text("TRUNCATE outbox, inbox, widgets"))
    yield eng
    eng.dispose()
