"""Database helpers shared by every service: engines, units of work, database creation, migrations."""

from shared.db.engine import create_database_if_missing, make_engine, wait_for_database
from shared.db.migrate import migrate

__all__ = ["create_database_if_missing", "make_engine", "migrate", "wait_for_database"]
