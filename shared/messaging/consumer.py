"""The one consumer loop every service uses.

A `Subscription` says which queue feeds which handler. The runner:

- validates each body (envelope, then the payload's contract); a malformed message goes straight
  to the queue's dead-letter queue with the reason, it is never retried;
- runs the handler inside one database transaction, claims the message id in the inbox in that
  same transaction (a redelivered message is skipped), commits, and only then acks;
- processes deliveries in batches (one transaction per batch) because a commit per message caps a
  service at ~1,500 msg/s; a batch handler gets the whole batch; per-message handlers run in one
  pass, and only a batch with a failing message runs again with a savepoint per message;
- on a handler error, republishes the message to the next delayed retry queue, and after the
  last retry to the dead-letter queue with the error, then acks: a poison message never blocks;
- on a database outage, nacks with requeue and backs off without spending retries;
- reconnects after the broker goes away, and stops cleanly on SIGTERM/SIGINT;
- blocks on the broker connection while idle (no polling): a delivery ends the wait at once, and
  a partial batch waits only its `linger_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pika
from prometheus_client import Counter, Histogram
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.messaging.connection import CONNECTION_ERRORS, connect
from shared.messaging.envelope import MalformedMessage, Message, decode
from shared.messaging.inbox import claim, claim_many
from shared.messaging.outbox import MessagingTables, UnitOfWork
from shared.messaging.registry import validate_payload
from shared.messaging.topology import QueueSpec, Topology

log = logging.getLogger(__name__)

CONSUMED = Counter("touchpoint_messages_consumed_total", "Messages consumed, by outcome",
                   ["service", "queue", "outcome"])
BATCH_SECONDS = Histogram("touchpoint_consumer_batch_seconds", "Time to handle and commit one batch",
                          ["service", "queue"])

MessageHandler = Callable[[UnitOfWork, Message], None]
BatchHandler = Callable[[UnitOfWork, Sequence[Message]], None]

ATTEMPT_HEADER = "x-attempt"
ERROR_HEADER = "x-error"


@dataclass
class Subscription:
    """Wiring of one queue to one handler (per message) or batch handler (per batch)."""

    spec: QueueSpec
    handler: MessageHandler | None = None
    batch_handler: BatchHandler | None = None
    batch_size: int = 100
    prefetch: int = 200
    linger_seconds: float = 0.01
    shards: Sequence[int] | None = None  # which shards of a sharded queue this process consumes
    require_contract: bool = True
    consumer_name: str = ""
    # "" = the runner's main thread; another name = a connection and loop of its own, so a slow batch
    # elsewhere (a broadcast page of 1,000 enrollments) does not hold these messages up.
    thread: str = ""

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("a subscription needs exactly one of handler or batch_handler")
        self.consumer_name = self.consumer_name or self.spec.name


@dataclass
class _Delivery:
    tag: int
    properties: pika.BasicProperties
    body: bytes
    message: Message | None = None


@dataclass
class _Feed:
    subscription: Subscription
    queue: str
    channel: object = None
    consumer_tag: str = ""
    buffer: list[_Delivery] = field(default_factory=list)
    first_at: float = 0.0


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:2000]


class _InfrastructureError(Exception):
    """The database is unreachable: requeue the batch without spending its retries."""


class _AllSet:
    """Set when every one of some events is (`connected` of a runner with several consumer threads)."""

    def __init__(self, events: Sequence[threading.Event]) -> None:
        self.events = list(events)

    def is_set(self) -> bool:
        """Whether every event is set."""
        return all(event.is_set() for event in self.events)

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until every event is set, `timeout` seconds at most; whether they are."""
        deadline = time.monotonic() + timeout
        return all(event.wait(max(0.0, deadline - time.monotonic())) for event in self.events)


class ConsumerRunner:
    """Consumes the given subscriptions until stopped, surviving broker and database outages."""

    def __init__(self, service: str, amqp_url: str, topology: Topology, engine: Engine,
                 tables: MessagingTables, subscriptions: Sequence[Subscription], idle_wait: float = 5.0) -> None:
        self.service = service
        self.amqp_url = amqp_url
        self.topology = topology
        self.engine = engine
        self.tables = tables
        subscriptions = list(subscriptions)
        self.subscriptions = [sub for sub in subscriptions if not sub.thread]
        others = sorted({sub.thread for sub in subscriptions if sub.thread})
        self._threads = [ConsumerRunner(service, amqp_url, topology, engine, tables,
                                        [replace(sub, thread="") for sub in subscriptions if sub.thread == name],
                                        idle_wait) for name in others]
        self._stop = threading.Event()
        self._own_connected = threading.Event()
        self.connected = _AllSet([self._own_connected, *(runner.connected for runner in self._threads)])
        self.idle_wait = idle_wait
        self._connection = None

    # -- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the batch in hand, then close the connection and return from run()."""
        for runner in self._threads:
            runner.stop()
        self._stop.set()
        connection = self._connection
        if connection is not None:  # end an idle wait now instead of after idle_wait
            try:
                connection.add_callback_threadsafe(lambda: None)
            except Exception:  # noqa: BLE001 - closing or closed: the loop ends on its own
                log.debug("could not wake the consumer loop", exc_info=True)

    def run(self) -> None:
        """Consume until stop(); reconnect with growing delay when the broker goes away."""
        others = [runner.start_thread() for runner in self._threads]
        backoff = 0.2
        while not self._stop.is_set():
            if not self.subscriptions:  # every subscription has its own thread
                self._own_connected.set()
                self._stop.wait()
                break
            try:
                self._consume()
                backoff = 0.2
            except CONNECTION_ERRORS as exc:
                self._own_connected.clear()
                log.warning("broker connection lost; reconnecting", extra={"error": repr(exc), "retry_in": backoff})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        for thread in others:
            thread.join(30)

    def start_thread(self) -> threading.Thread:
        """Run the consumer loop in a daemon thread (tests, the local all-in-one runner)."""
        thread = threading.Thread(target=self.run, name=f"{self.service}-consumer", daemon=True)
        thread.start()
        return thread

    # -- the loop ---------------------------------------------------------------------------
    def _consume(self) -> None:
        connection = connect(self.amqp_url, client_name=f"{self.service}-consumer", timeout=10)
        try:
            setup = connection.channel()
            feeds: list[_Feed] = []
            for sub in self.subscriptions:
                names = self.topology.declare(setup, sub.spec)
                if sub.shards is not None:
                    names = [names[i] for i in sub.shards]
                feeds.extend(_Feed(sub, name) for name in names)
            self._publish_channel = connection.channel()
            self._publish_channel.confirm_delivery()
            for feed in feeds:
                channel = connection.channel()
                channel.basic_qos(prefetch_count=feed.subscription.prefetch)
                feed.consumer_tag = channel.basic_consume(feed.queue, self._collector(feed))
                feed.channel = channel
            self._connection = connection
            self._own_connected.set()
            while not self._stop.is_set():
                # Returns as soon as a delivery arrives; idle, it sleeps up to idle_wait (a poll every
                # linger_seconds cost each worker ~4 % of a core with no traffic at all).
                connection.process_data_events(time_limit=self._time_limit(feeds, time.monotonic()))
                now = time.monotonic()
                for feed in feeds:
                    if feed.buffer and (len(feed.buffer) >= feed.subscription.batch_size
                                        or now - feed.first_at >= feed.subscription.linger_seconds):
                        self._process(feed)
            for feed in feeds:  # graceful stop: stop deliveries, finish what is in hand
                feed.channel.basic_cancel(feed.consumer_tag)
                if feed.buffer:
                    self._process(feed)
        finally:
            self._own_connected.clear()
            self._connection = None
            if connection.is_open:
                try:
                    connection.close()
                except CONNECTION_ERRORS:
                    log.debug("closing a dead connection failed", exc_info=True)

    def _time_limit(self, feeds: list[_Feed], now: float) -> float:
        """How long the broker loop may block: until the first buffered batch's linger ends, else idle_wait."""
        limit = self.idle_wait
        for feed in feeds:
            if feed.buffer:
                limit = min(limit, feed.first_at + feed.subscription.linger_seconds - now)
        return max(limit, 0.0)

    def _collector(self, feed: _Feed) -> Callable:
        def on_message(_channel, method, properties, body) -> None:
            if not feed.buffer:
                feed.first_at = time.monotonic()
            feed.buffer.append(_Delivery(method.delivery_tag, properties, body))

        return on_message

    def _process(self, feed: _Feed) -> None:
        batch, feed.buffer = feed.buffer, []
        sub = feed.subscription
        valid: list[_Delivery] = []
        for delivery in batch:
            try:
                message = decode(delivery.body)
                delivery.message = replace(message, payload=validate_payload(message, sub.require_contract))
                valid.append(delivery)
            except MalformedMessage as exc:
                self._dead_letter(feed, delivery, f"malformed: {exc}", attempts=0)
                CONSUMED.labels(self.service, sub.spec.name, "malformed").inc()
        if not valid:
            self._ack_all(feed, batch)
            return
        started = time.perf_counter()
        try:
            failures = self._handle(sub, valid)
        except _InfrastructureError as exc:
            log.warning("database unavailable; requeueing batch", extra={"error": str(exc), "queue": feed.queue})
            for delivery in batch:  # malformed ones are in the dead-letter queue already
                if delivery.message is None:
                    feed.channel.basic_ack(delivery_tag=delivery.tag)
                else:
                    feed.channel.basic_nack(delivery_tag=delivery.tag, requeue=True)
            self._stop.wait(1.0)
            return
        BATCH_SECONDS.labels(self.service, sub.spec.name).observe(time.perf_counter() - started)
        for delivery, error in failures:
            self._retry_or_dead_letter(feed, delivery, error)
        CONSUMED.labels(self.service, sub.spec.name, "handled").inc(len(valid) - len(failures))
        self._ack_all(feed, batch)

    def _ack_all(self, feed: _Feed, batch: list[_Delivery]) -> None:
        # Delivery tags on one channel grow monotonically and this channel serves only this feed,
        # so one multiple-ack settles the whole batch.
        feed.channel.basic_ack(delivery_tag=batch[-1].tag, multiple=True)

    def _handle(self, sub: Subscription, deliveries: list[_Delivery]) -> list[tuple[_Delivery, str]]:
        """Run the handler; return the deliveries that failed with their error text."""
        try:
            if sub.batch_handler is not None:
                return self._handle_as_batch(sub, deliveries)
            return self._handle_each(sub, deliveries)
        except (OperationalError, DBAPIError) as exc:
            if getattr(exc, "connection_invalidated", False) or isinstance(exc, OperationalError):
                raise _InfrastructureError(str(exc)) from exc
            raise

    def _handle_each(self, sub: Subscription, deliveries: list[_Delivery]) -> list[tuple[_Delivery, str]]:
        """Per-message handlers: the whole batch in one transaction, and only if a message fails, again
        with a savepoint per message so that it fails alone.

        The first pass claims the batch's ids with one statement and writes its outbox rows with one
        flush (one NOTIFY): per message that saves the SAVEPOINT, RELEASE, claim, NOTIFY and INSERT
        round trips, a quarter to a half of a small handler's statements. A failure rolls the whole
        pass back (inbox claims included), so the second pass sees the batch as new.
        """
        try:  # a batch of one too: at a few messages a second most batches are (no savepoint then)
            self._run_each_in_one(sub, deliveries)
            return []
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001 - the isolating pass below logs the failing message
            log.info("batch failed; isolating the failing messages", exc_info=True, extra={"queue": sub.spec.name})
        return self._run_each_isolated(sub, deliveries)

    def _run_each_in_one(self, sub: Subscription, deliveries: list[_Delivery]) -> None:
        with self.engine.begin() as conn:
            uow = UnitOfWork(conn, self.tables, self.service)
            claimed = claim_many(conn, self.tables.inbox, sub.consumer_name, [d.message.id for d in deliveries])
            for delivery in deliveries:  # in delivery order; the first copy of an id delivered twice wins
                if delivery.message.id in claimed:
                    claimed.discard(delivery.message.id)
                    sub.handler(uow, delivery.message)
            uow.flush()

    def _run_each_isolated(self, sub: Subscription, deliveries: list[_Delivery]) -> list[tuple[_Delivery, str]]:
        failures: list[tuple[_Delivery, str]] = []
        with self.engine.begin() as conn:
            uow = UnitOfWork(conn, self.tables, self.service)
            for delivery in deliveries:
                savepoint = conn.begin_nested()
                try:
                    if claim(conn, self.tables.inbox, sub.consumer_name, delivery.message.id):
                        sub.handler(uow, delivery.message)
                        uow.flush()
                    savepoint.commit()
                except OperationalError:
                    raise
                except Exception as exc:
                    savepoint.rollback()
                    uow.published.clear()
                    log.warning("handler failed", exc_info=True,
                                extra={"queue": sub.spec.name, "message_id": delivery.message.id})
                    failures.append((delivery, _describe(exc)))
        return failures

    def _handle_as_batch(self, sub: Subscription, deliveries: list[_Delivery]) -> list[tuple[_Delivery, str]]:
        try:
            self._run_batch(sub, deliveries)
            return []
        except OperationalError:
            raise
        except Exception as exc:
            if len(deliveries) == 1:
                log.warning("handler failed", exc_info=True, extra={"queue": sub.spec.name})
                return [(deliveries[0], _describe(exc))]
            log.info("batch failed; isolating the failing messages", extra={"queue": sub.spec.name})
        failures: list[tuple[_Delivery, str]] = []
        for delivery in deliveries:  # one transaction each, so one poison message fails alone
            try:
                self._run_batch(sub, [delivery])
            except OperationalError:
                raise
            except Exception as exc:
                log.warning("handler failed", exc_info=True,
                            extra={"queue": sub.spec.name, "message_id": delivery.message.id})
                failures.append((delivery, _describe(exc)))
        return failures

    def _run_batch(self, sub: Subscription, deliveries: list[_Delivery]) -> None:
        with self.engine.begin() as conn:
            uow = UnitOfWork(conn, self.tables, self.service)
            # One statement for the batch's inbox claims: a round trip per message would cap the batch.
            claimed = claim_many(conn, self.tables.inbox, sub.consumer_name, [d.message.id for d in deliveries])
            fresh = []
            for delivery in deliveries:  # the first copy of an id delivered twice in one batch wins
                if delivery.message.id in claimed:
                    claimed.discard(delivery.message.id)
                    fresh.append(delivery.message)
            if fresh:
                sub.batch_handler(uow, fresh)
            uow.flush()

    # -- retries and dead letters ---------------------------------------------------------------
    def _retry_or_dead_letter(self, feed: _Feed, delivery: _Delivery, error: str) -> None:
        headers = dict(delivery.properties.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1
        delays = feed.subscription.spec.retry_delays_ms
        if attempt <= len(delays):
            headers.update({ATTEMPT_HEADER: attempt, ERROR_HEADER: error[:1000]})
            self._republish("", Topology.retry_queue_name(feed.queue, attempt), delivery, headers)
            CONSUMED.labels(self.service, feed.subscription.spec.name, "retried").inc()
        else:
            self._dead_letter(feed, delivery, error, attempts=attempt - 1)
            CONSUMED.labels(self.service, feed.subscription.spec.name, "dead_lettered").inc()

    def _dead_letter(self, feed: _Feed, delivery: _Delivery, reason: str, attempts: int) -> None:
        headers = dict(delivery.properties.headers or {})
        headers.update({ERROR_HEADER: reason[:2000], "x-attempts": attempts, "x-original-queue": feed.queue,
                        "x-dead-lettered-at": datetime.now(UTC).isoformat()})
        log.error("message dead-lettered", extra={"queue": feed.queue, "reason": reason[:500]})
        self._republish(self.topology.dead_exchange, feed.queue, delivery, headers)

    def _republish(self, exchange: str, routing_key: str, delivery: _Delivery, headers: dict) -> None:
        props = delivery.properties
        self._publish_channel.basic_publish(
            exchange=exchange, routing_key=routing_key, body=delivery.body,
            properties=pika.BasicProperties(content_type=props.content_type, delivery_mode=pika.DeliveryMode.Persistent,
                                            message_id=props.message_id, type=props.type, headers=headers),
        )
