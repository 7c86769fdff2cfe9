"""Alembic, driven from code: each service keeps its own migrations folder and version table."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.db.engine import create_database_if_missing


def alembic_config(migrations_dir: Path, url: str) -> Config:
    """Build the Alembic configuration of one migrations folder against one database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(migrations_dir: Path, url: str, revision: str = "head") -> None:
    """Create the database if missing and upgrade it to `revision`."""
    create_database_if_missing(url)
    command.upgrade(alembic_config(migrations_dir, url), revision)
