"""Connections to RabbitMQ: parameters and a blocking connection with bounded retries."""

from __future__ import annotations

import logging
import time

import pika
from pika.adapters.blocking_connection import BlockingConnection

log = logging.getLogger(__name__)

# What a lost or refused broker connection raises in pika; we reconnect on these, nothing else.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionClosed,
    pika.exceptions.StreamLostError,
    pika.exceptions.ChannelClosed,
    pika.exceptions.ChannelWrongStateError,
    ConnectionError,
    OSError,
)


def parameters(amqp_url: str, client_name: str = "touchpoint") -> pika.URLParameters:
    """URL parameters with a heartbeat and a client name that shows in the management UI."""
    params = pika.URLParameters(amqp_url)
    params.heartbeat = 30
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.client_properties = {"connection_name": client_name}
    return params


def connect(amqp_url: str, client_name: str = "touchpoint", timeout: float = 30.0) -> BlockingConnection:
    """Open a blocking connection, retrying with growing delay until `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            return BlockingConnection(parameters(amqp_url, client_name))
        except CONNECTION_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("broker not reachable, retrying", extra={"error": str(exc), "retry_in": delay})
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
