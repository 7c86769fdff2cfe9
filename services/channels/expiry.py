"""The background task that expires call tasks nobody claimed in time (use case: handlers.call_center)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from services.channels.handlers.call_center import expire_tasks
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
from shared.clock import Clock, system_clock
from shared.periodic import PeriodicTask

log = logging.getLogger(__name__)


class CallTaskExpiry(PeriodicTask):
    """Background task: every `interval` seconds, expire unclaimed call tasks.

    A failed sweep (the database restarting) is logged with its traceback and retried with backoff.
    """

    def __init__(self, engine: Engine, interval: float = 5.0, clock: Clock = system_clock) -> None:
        super().__init__("call task expiry", self.sweep, interval=interval, max_backoff=60.0, logger=log)
        self.uow = ChannelsUnitOfWorkFactory(engine, clock)

    def sweep(self) -> None:
        """Expire the tasks whose time ran out, in one unit of work."""
        with self.uow() as uow:
            expire_tasks(uow)
