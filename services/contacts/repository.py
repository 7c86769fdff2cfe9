"""Tables of the contacts database and the queries on them (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.messaging import MessagingTables

metadata = MetaData()
TABLES = MessagingTables(metadata)
