"""The one messaging layer: topology, envelope and contracts, confirmed publishing, outbox, inbox, consumers."""

from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.envelope import MalformedMessage, Message, decode
from shared.messaging.outbox import MessagingTables, OutboxRelay, UnitOfWork, UnitOfWorkFactory
from shared.messaging.publisher import ConfirmingPublisher, PublishError
from shared.messaging.registry import contract, register, validate_payload
from shared.messaging.topology import QueueSpec, Topology

__all__ = [
    "ConfirmingPublisher", "ConsumerRunner", "MalformedMessage", "Message", "MessagingTables", "OutboxRelay",
    "PublishError", "QueueSpec", "Subscription", "Topology", "UnitOfWork", "UnitOfWorkFactory", "contract",
    "decode", "register", "validate_payload",
]
