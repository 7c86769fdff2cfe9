"""How the channels service runs: its app, consumers, background tasks and migrations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from services.channels import create_app
from services.channels.adapters.base import AdapterContext
from services.channels.adapters.ratelimit import TokenBucket
from services.channels.adapters.registry import build_adapters, parse_config
from services.channels.consumers import subscriptions
from services.channels.delivery import DeliveryWorker
from services.channels.expiry import CallTaskExpiry
from services.channels.repository import TABLES
from services.channels.wakeups import DeliveryWakeups
from shared.clock import Clock, system_clock
from shared.config import Settings
from shared.runtime import BackgroundTask, ServiceDefinition


def background(settings: Settings, engine: Engine, clock: Clock = system_clock) -> Sequence[BackgroundTask]:
    """Delivery workers (CHANNELS_DELIVERY_WORKERS per channel, default 1) and the call-task expiry.

    Each worker sends up to its adapter's `max_in_flight` messages at once (a lane of threads), so one
    worker per channel is normally enough; the channel's workers in a process share its rate limit.
    CHANNELS_DELIVERY_LEASE_SECONDS (default 120) bounds how long a crashed worker's jobs wait before
    another worker takes them; it must exceed the time a leased batch of sends can take.
    Idle workers sleep until the gate's NOTIFY (wakeups.py); CHANNELS_DELIVERY_POLL_SECONDS (30) is
    their fallback poll, which finds what no notification announces (another process's expired
    lease or given-back jobs). CHANNELS_TASK_EXPIRY_SECONDS (30): how often unclaimed call tasks
    are expired (a task outlives its expiry by at most that).
    """
    config = parse_config(settings.extra.get("adapters"))
    context = AdapterContext(settings, engine, clock.now)  # adapters take a callable (adapters/base.py)
    per_channel = int(settings.extra.get("delivery_workers") or 1)
    lease = timedelta(seconds=float(settings.extra.get("delivery_lease_seconds") or 120))
    poll = float(settings.extra.get("delivery_poll_seconds") or 30)
    tasks: list[BackgroundTask] = []
    buckets: dict[str, TokenBucket] = {}  # one rate limit per channel, shared by its workers in this process
    wakeups = DeliveryWakeups(engine, config)  # idle workers sleep until the gate commits jobs
    for _ in range(per_channel):  # each worker its own adapter instances (own connection pools) and lane
        for channel, adapter in build_adapters(config, context).items():
            bucket = buckets.setdefault(channel, TokenBucket(adapter.rate_limit_per_second))
            tasks.append(DeliveryWorker(engine, adapter, lease=lease, bucket=bucket, wakeup=wakeups.event(channel),
                                        poll_seconds=poll))
    if config:
        tasks.append(wakeups)
    tasks.append(CallTaskExpiry(engine, interval=float(settings.extra.get("task_expiry_seconds") or 30),
                                 clock=clock))
    return tasks


def build_definition(clock: Clock = system_clock) -> ServiceDefinition:
    """The service definition; tests pass a clock to decide at a chosen time."""
    return ServiceDefinition(
        name="channels",
        migrations_dir=Path(__file__).parent / "migrations",
        tables=TABLES,
        create_app=lambda settings: create_app(settings, clock),
        subscriptions=lambda settings, engine: subscriptions(settings, engine, clock),
        background=lambda settings, engine: background(settings, engine, clock),
        default_port=8003,
    )


DEFINITION = build_definition()
