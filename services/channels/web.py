"""What every channels view reaches for: the service context and its units of work.

Kept apart from the blueprints so api.py, agents.py and webhooks.py import it and never each other.
"""

from __future__ import annotations

from flask import current_app

from services.channels.unit_of_work import ChannelsUnitOfWorkFactory
from shared.http.app import ServiceContext


def context() -> ServiceContext:
    """The service context of the running app."""
    return current_app.extensions["touchpoint"]


def unit_of_work() -> ChannelsUnitOfWorkFactory:
    """Units of work on the app's database (`with unit_of_work()() as uow`, or `.read()` for reads)."""
    ctx = context()
    factory = ctx.extra.get("uow")
    if factory is None:
        factory = ctx.extra["uow"] = ChannelsUnitOfWorkFactory(ctx.engine)
    return factory
