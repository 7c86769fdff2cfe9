"""The scheduler service: time that survives restarts and scales.

Due entries (drip steps, deferrals, one-off publications) and broadcast schedules live in
PostgreSQL; one APScheduler job on the elected leader fires them through the outbox (see
docs/scheduler.md). `create_app()` is the app factory; nothing else runs at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask
from sqlalchemy import Engine

from shared.config import Settings

if TYPE_CHECKING:
    from shared.clock import Clock


def create_app(settings: Settings | None = None, clock: Clock | None = None, engine: Engine | None = None) -> Flask:
    """Build the scheduler HTTP app (operators only); `clock` defaults to the system clock."""
    from services.scheduler.api import blueprints
    from services.scheduler.consumers import subscriptions
    from services.scheduler.repository import TABLES
    from shared.http import create_service_app

    settings = settings or Settings.from_env("scheduler")
    app = create_service_app(settings, "Touchpoint scheduler", blueprints(), engine=engine,
                             description="Due entries, broadcast schedules, pause/resume, leader and backlog",
                             queues=lambda: [s.spec for s in subscriptions(settings, None)],
                             tables=TABLES, clock=clock)
    return app
