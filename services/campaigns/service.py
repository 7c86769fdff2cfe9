"""How the campaigns service runs: its app, consumers, background tasks and migrations."""

from __future__ import annotations

from pathlib import Path

from services.campaigns import create_app
from services.campaigns.consumers import subscriptions
from services.campaigns.repository import TABLES
from shared.runtime import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="campaigns",
    migrations_dir=Path(__file__).parent / "migrations",
    tables=TABLES,
    create_app=create_app,
    subscriptions=subscriptions,
    default_port=8002,
)
