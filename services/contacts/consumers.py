"""Which queue feeds which handler in the contacts service (wiring only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from services.contacts.handlers.events import on_interaction, on_message_outcomes
from services.contacts.unit_of_work import ContactsUnitOfWork
from shared.config import Settings
from shared.contracts import OUTCOMES
from shared.messaging import Message, QueueSpec, Subscription, UnitOfWork


def interaction(uow: UnitOfWork, message: Message) -> None:
    """`contacts.interactions` -> `handlers.events.on_interaction`."""
    on_interaction(ContactsUnitOfWork(uow), message)


def message_outcomes(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    """`contacts.message-outcomes` -> `handlers.events.on_message_outcomes` (a batch at a time)."""
    on_message_outcomes(ContactsUnitOfWork(uow), messages)


def subscriptions(settings: Settings, engine: Engine) -> Sequence[Subscription]:
    """The contacts service's consumers: channel interactions, and message decisions/outcomes for the timeline."""
    return [
        Subscription(QueueSpec("contacts.interactions", bindings=("interaction.recorded",)), handler=interaction),
        # Bound per outcome, not `message.#`: message.requested (one per send) is not ours to keep.
        Subscription(QueueSpec("contacts.message-outcomes", bindings=tuple(f"message.{o}" for o in OUTCOMES)),
                     batch_handler=message_outcomes),
    ]
