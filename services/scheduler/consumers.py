"""Which queue feeds which handler in the scheduler service (wiring only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from services.scheduler.handlers import SchedulerHandlers
from shared.clock import Clock, system_clock
from shared.config import Settings
from shared.messaging import QueueSpec, Subscription
from shared.messaging.topology import DEFAULT_RETRY_DELAYS_MS

BINDINGS = ("schedule.requested", "schedule.cancelled", "schedule.recurring.upserted",
            "schedule.recurring.removed", "message.deferred")


def retry_delays(settings: Settings) -> tuple[int, ...]:
    """Retry delays of the requests queue (`SCHEDULER_RETRY_DELAYS_MS=1000,5000`), else the defaults."""
    raw = settings.extra.get("retry_delays_ms")
    return tuple(int(x) for x in raw.split(",") if x.strip()) if raw else DEFAULT_RETRY_DELAYS_MS


def subscriptions(settings: Settings, engine: Engine, clock: Clock | None = None) -> Sequence[Subscription]:
    """The scheduler's consumers: one queue for every request about time."""
    handlers = SchedulerHandlers(clock or system_clock)
    spec = QueueSpec("scheduler.requests", BINDINGS, retry_delays_ms=retry_delays(settings))
    return [Subscription(spec, handler=handlers.handle, batch_size=200, prefetch=500)]
