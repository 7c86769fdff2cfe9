"""How the contacts service runs: its app, consumers, background tasks and migrations.

The import worker sleeps until `NOTIFY touchpoint_imports` (sent by a trigger when POST /imports
queues a job, migration 0003) or its fallback poll, CONTACTS_IMPORT_POLL_SECONDS (30; it also
finds a job whose worker died, after the job's heartbeat is two minutes old).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from services.contacts import create_app
from services.contacts.consumers import subscriptions
from services.contacts.importer import ImportRunner
from services.contacts.repository import TABLES
from shared.config import Settings
from shared.messaging.listen import NotifyListener
from shared.runtime import BackgroundTask, ServiceDefinition

IMPORTS_CHANNEL = "touchpoint_imports"  # the NOTIFY channel of migration 0003's trigger


def background(settings: Settings, engine: Engine) -> Sequence[BackgroundTask]:
    """The import worker and the listener that wakes it when a job is queued."""
    runner = ImportRunner(settings, engine, poll_seconds=float(settings.extra.get("import_poll_seconds") or 30))
    return [runner, NotifyListener(engine, {IMPORTS_CHANNEL: lambda _payload: runner.wake()}, name="import wake-ups")]


DEFINITION = ServiceDefinition(
    name="contacts",
    migrations_dir=Path(__file__).parent / "migrations",
    tables=TABLES,
    create_app=create_app,
    subscriptions=subscriptions,
    background=background,
    default_port=8001,
)
