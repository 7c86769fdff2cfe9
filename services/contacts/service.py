"""How the contacts service runs: its app, consumers, background tasks and migrations."""

from __future__ import annotations

from pathlib import Path

from services.contacts import create_app
from services.contacts.consumers import subscriptions
from services.contacts.importer import ImportRunner
from services.contacts.repository import TABLES
from shared.runtime import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="contacts",
    migrations_dir=Path(__file__).parent / "migrations",
    tables=TABLES,
    create_app=create_app,
    subscriptions=subscriptions,
    background=lambda settings, engine: [ImportRunner(settings, engine)],
    default_port=8001,
)
