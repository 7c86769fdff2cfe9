"""The background task that expires call tasks nobody claimed in time (use case: handlers.call_center)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from services.channels.handlers.call_center import expire_tasks
from services.channels.unit_of_work import ChannelsUnitOfWorkFactory

log = logging.getLogger(__name__)


class CallTaskExpiry:
    """Background task: every `interval` seconds, expire unclaimed call tasks."""

    def __init__(self, engine: Engine, interval: float = 5.0) -> None:
        self.uow = ChannelsUnitOfWorkFactory(engine)
        self.interval = interval
        self._stop = threading.Event()

    def run(self) -> None:
        """Sweep until stopped."""
        while not self._stop.is_set():
            try:
                with self.uow() as uow:
                    expire_tasks(uow)
            except Exception:  # the sweeper must outlive a database restart; the error is logged
                log.exception("call task expiry failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop sweeping."""
        self._stop.set()
