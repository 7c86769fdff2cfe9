"""How the scheduler runs: its app, consumers, the poll job (background task) and migrations.

The poll job sleeps until the next due time and is woken by `NOTIFY touchpoint_scheduler` (a
`NotifyListener` beside it). Tuning through the environment (`settings.extra`):
SCHEDULER_POLL_INTERVAL_S (0.25: the pace of ticks while a backlog is worked off, and the first
backoff), SCHEDULER_FALLBACK_S (30: the longest sleep), SCHEDULER_STANDBY_S (1: how often a
standby replica tries the leadership),
SCHEDULER_BATCH_SIZE (1000), SCHEDULER_MAX_BATCHES_PER_TICK (2), SCHEDULER_LEADER_IDLE_TIMEOUT_S (10),
SCHEDULER_RETENTION_DAYS (7), SCHEDULER_RETRY_DELAYS_MS (the shared defaults),
SCHEDULER_REPLICA_ID (host:pid; shown as the leader's identity).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from services.scheduler import create_app
from services.scheduler.consumers import subscriptions
from services.scheduler.leadership import LeaderLock
from services.scheduler.poller import SCHEDULER_CHANNEL, DuePoller
from services.scheduler.repository import TABLES
from shared.clock import Clock, system_clock
from shared.config import Settings
from shared.messaging.listen import NotifyListener
from shared.runtime import BackgroundTask, ServiceDefinition


def poller(settings: Settings, engine: Engine, clock: Clock) -> DuePoller:
    """The poll job of one replica, configured from the settings."""
    extra = settings.extra
    return DuePoller(
        engine, clock,
        LeaderLock(settings.database_url, identity=extra.get("replica_id"),
                   idle_timeout_s=float(extra.get("leader_idle_timeout_s", 10))),
        source=settings.service,
        interval_s=float(extra.get("poll_interval_s", 0.25)),
        batch_size=int(extra.get("batch_size", 1000)),
        max_batches_per_tick=int(extra.get("max_batches_per_tick", 2)),
        retention=timedelta(days=float(extra.get("retention_days", 7))),
        fallback_s=float(extra.get("fallback_s", 30)),
        standby_s=float(extra.get("standby_s", 1)),
    )


def build_definition(clock: Clock | None = None) -> ServiceDefinition:
    """The scheduler's definition on `clock` (tests pass a manual clock; processes use the system clock)."""
    clock = clock or system_clock

    def background(settings: Settings, engine: Engine) -> Sequence[BackgroundTask]:
        job = poller(settings, engine, clock)
        return [job, NotifyListener(engine, {SCHEDULER_CHANNEL: job.notified}, name="scheduler wake-ups")]

    return ServiceDefinition(
        name="scheduler",
        migrations_dir=Path(__file__).parent / "migrations",
        tables=TABLES,
        create_app=lambda settings: create_app(settings, clock=clock),
        subscriptions=lambda settings, engine: subscriptions(settings, engine, clock),
        background=background,
        default_port=8004,
    )


DEFINITION = build_definition()
