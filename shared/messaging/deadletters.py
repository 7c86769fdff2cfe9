"""Operator tools for dead-letter queues: look at what died and why, and replay it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pika

from shared.messaging.connection import connect
from shared.messaging.consumer import ATTEMPT_HEADER, ERROR_HEADER


@dataclass(frozen=True)
class DeadLetter:
    """One dead message: where it came from, why it died, and its body."""

    queue: str
    message_id: str | None
    type: str | None
    error: str
    attempts: int
    dead_lettered_at: str | None
    body: Any


def _work_queue(dead_queue: str) -> str:
    if not dead_queue.endswith(".dead"):
        raise ValueError(f"{dead_queue} is not a dead-letter queue (they end in .dead)")
    return dead_queue[: -len(".dead")]


def peek(amqp_url: str, dead_queue: str, limit: int = 50) -> list[DeadLetter]:
    """Read up to `limit` dead messages without removing them."""
    _work_queue(dead_queue)
    connection = connect(amqp_url, client_name="dlq-peek", timeout=10)
    try:
        channel = connection.channel()
        seen: list[DeadLetter] = []
        tags = []
        for _ in range(limit):
            method, props, body = channel.basic_get(dead_queue, auto_ack=False)
            if method is None:
                break
            tags.append(method.delivery_tag)
            headers = props.headers or {}
            try:
                parsed: Any = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", "replace")
            seen.append(DeadLetter(dead_queue, props.message_id, props.type, str(headers.get(ERROR_HEADER, "")),
                                   int(headers.get("x-attempts", 0)), headers.get("x-dead-lettered-at"), parsed))
        if tags:  # give them all back, unchanged
            channel.basic_nack(delivery_tag=tags[-1], multiple=True, requeue=True)
        return seen
    finally:
        connection.close()


def replay(amqp_url: str, dead_queue: str, limit: int | None = None) -> int:
    """Move dead messages back to their work queue with a fresh retry budget; return how many."""
    work_queue = _work_queue(dead_queue)
    connection = connect(amqp_url, client_name="dlq-replay", timeout=10)
    moved = 0
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        while limit is None or moved < limit:
            method, props, body = channel.basic_get(dead_queue, auto_ack=False)
            if method is None:
                break
            headers = {k: v for k, v in (props.headers or {}).items()
                       if k not in (ATTEMPT_HEADER, ERROR_HEADER, "x-attempts", "x-dead-lettered-at")}
            headers["x-replayed"] = int((props.headers or {}).get("x-replayed", 0)) + 1
            channel.basic_publish("", work_queue, body, pika.BasicProperties(
                content_type=props.content_type, delivery_mode=pika.DeliveryMode.Persistent,
                message_id=props.message_id, type=props.type, headers=headers))
            channel.basic_ack(method.delivery_tag)  # only after the broker confirmed the copy
            moved += 1
        return moved
    finally:
        connection.close()


def counts(amqp_url: str, dead_queues: list[str]) -> dict[str, int | None]:
    """How many messages wait in each dead-letter queue (None: the queue was never declared)."""
    connection = connect(amqp_url, client_name="dlq-count", timeout=10)
    found: dict[str, int | None] = {}
    try:
        channel = connection.channel()
        for queue in dead_queues:
            try:
                found[queue] = channel.queue_declare(queue, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:  # 404: no worker has declared it yet
                found[queue] = None
                channel = connection.channel()
        return found
    finally:
        connection.close()
