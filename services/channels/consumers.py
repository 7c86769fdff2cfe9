"""Which queue feeds which handler in the channels service (wiring only).

`channels.dispatch` is sharded: a consistent-hash exchange routes `message.requested` on its `key`
header (the contact id) to one of CHANNELS_DISPATCH_SHARDS queues (default 8), so one contact's
messages meet one worker. A process consumes the shards listed in CHANNELS_DISPATCH_CONSUME
("0,1,2,3"; default all), which is how replicas split the work.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from services.channels.handlers.contact_facts import HANDLERS, handle_contact_facts
from services.channels.handlers.gate import decide_requests
from services.channels.handlers.planned import handle_plans
from services.channels.unit_of_work import ChannelsUnitOfWork
from shared.clock import Clock, system_clock
from shared.config import Settings
from shared.messaging import Message, QueueSpec, Subscription, UnitOfWork

DEFAULT_SHARDS = 8


def dispatch_spec(settings: Settings) -> QueueSpec:
    """The sharded queue of the dispatch gate."""
    return QueueSpec("channels.dispatch", ("message.requested",),
                     shards=int(settings.extra.get("dispatch_shards") or DEFAULT_SHARDS))


def consumed_shards(settings: Settings) -> list[int] | None:
    """The shards this process consumes (None: all)."""
    text = (settings.extra.get("dispatch_consume") or "").strip()
    return [int(part) for part in text.split(",") if part.strip()] if text else None


class DispatchGate:
    """The batch handler of the `channels.dispatch` queue: the gate's use case at the clock's time."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock

    def __call__(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """Decide every request of the batch in the consumer's transaction."""
        decide_requests(ChannelsUnitOfWork(uow, self.clock), [m.payload for m in messages], self.clock.now())


class ContactFacts:
    """The batch handler of `channels.contacts`."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock

    def __call__(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """Apply the batch's contact facts in the consumer's transaction."""
        handle_contact_facts(ChannelsUnitOfWork(uow, self.clock), messages)


PLANS_SPEC = QueueSpec("channels.plans", ("send.planned", "send.plan_cancelled"))


class Plans:
    """The batch handler of `channels.plans`: planned sends announced by campaigns (the look-ahead rule)."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock

    def __call__(self, uow: UnitOfWork, messages: Sequence[Message]) -> None:
        """Apply the batch's plans and cancellations in the consumer's transaction."""
        handle_plans(ChannelsUnitOfWork(uow, self.clock), messages)


def subscriptions(settings: Settings, engine: Engine, clock: Clock = system_clock) -> Sequence[Subscription]:
    """The channels service's consumers."""
    return [
        Subscription(dispatch_spec(settings), batch_handler=DispatchGate(clock), batch_size=200, prefetch=400,
                     linger_seconds=0.02, shards=consumed_shards(settings)),
        Subscription(QueueSpec("channels.contacts", tuple(HANDLERS)), batch_handler=ContactFacts(clock),
                     batch_size=200, prefetch=400, linger_seconds=0.01),
        Subscription(PLANS_SPEC, batch_handler=Plans(clock), batch_size=200, prefetch=400, linger_seconds=0.01),
    ]
