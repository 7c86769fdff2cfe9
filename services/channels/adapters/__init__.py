"""Channel adapters: the interface (base.py), the registry, and the adapters Touchpoint ships."""

from services.channels.adapters.base import (
    AdapterContext,
    ChannelAdapter,
    DeliveryResult,
    Recipient,
    RenderedMessage,
    RetryPolicy,
)

__all__ = ["AdapterContext", "ChannelAdapter", "DeliveryResult", "Recipient", "RenderedMessage", "RetryPolicy"]
