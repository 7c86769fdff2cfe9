"""The broker topology, declared in code: exchanges, work queues, delayed retry queues, dead letters.

For a queue named `contacts.events` in namespace `touchpoint`:

    touchpoint.events            topic exchange every service publishes to (routing key = message type)
    touchpoint.contacts.events   the work queue, bound to the routing keys it subscribes to
    touchpoint.contacts.events.retry.N   one queue per retry delay; its TTL dead-letters the message
                                 back to the work queue through the default exchange
    touchpoint.contacts.events.dead      where messages go after the last retry, or at once when
                                 malformed; bound to touchpoint.dead, inspectable and replayable

A sharded queue (`shards > 1`) is fed through a consistent-hash exchange on the `key` header, so
every message of one contact lands in the same shard and meets the same worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pika.adapters.blocking_connection import BlockingChannel

DEFAULT_RETRY_DELAYS_MS: tuple[int, ...] = (1_000, 5_000, 30_000, 120_000)


@dataclass(frozen=True)
class QueueSpec:
    """A work queue: its short name, the routing keys it takes, its retry delays and sharding."""

    name: str
    bindings: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS
    shards: int = 1
    max_length: int | None = None


@dataclass
class Topology:
    """Names and declarations of one namespace's exchanges and queues."""

    namespace: str = "touchpoint"
    queue_type: str = "classic"
    declared_queues: set[str] = field(default_factory=set)
    declared_exchanges: set[str] = field(default_factory=set)

    @property
    def events_exchange(self) -> str:
        """The topic exchange every event is published to."""
        return f"{self.namespace}.events"

    @property
    def dead_exchange(self) -> str:
        """The direct exchange dead letters go through."""
        return f"{self.namespace}.dead"

    def queue_name(self, spec: QueueSpec, shard: int | None = None) -> str:
        """Full name of a work queue (or of one of its shards)."""
        base = f"{self.namespace}.{spec.name}"
        return base if shard is None else f"{base}.{shard}"

    def shard_queue_names(self, spec: QueueSpec) -> list[str]:
        """All physical queues behind a spec: itself, or its shards."""
        if spec.shards <= 1:
            return [self.queue_name(spec)]
        return [self.queue_name(spec, i) for i in range(spec.shards)]

    @staticmethod
    def retry_queue_name(queue: str, attempt: int) -> str:
        """Name of the delay queue used for retry number `attempt` (1-based)."""
        return f"{queue}.retry.{attempt}"

    @staticmethod
    def dead_queue_name(queue: str) -> str:
        """Name of the dead-letter queue of a work queue."""
        return f"{queue}.dead"

    def declare_base(self, channel: BlockingChannel) -> None:
        """Declare the namespace's shared exchanges (idempotent)."""
        channel.exchange_declare(self.events_exchange, exchange_type="topic", durable=True)
        channel.exchange_declare(self.dead_exchange, exchange_type="direct", durable=True)
        self.declared_exchanges.update({self.events_exchange, self.dead_exchange})

    def declare(self, channel: BlockingChannel, spec: QueueSpec) -> list[str]:
        """Declare a work queue with its retry and dead-letter queues; return the physical queue names."""
        self.declare_base(channel)
        names = self.shard_queue_names(spec)
        source = self.events_exchange
        if spec.shards > 1:
            source = f"{self.namespace}.{spec.name}.hash"
            channel.exchange_declare(source, exchange_type="x-consistent-hash", durable=True,
                                     arguments={"hash-header": "key"})
            self.declared_exchanges.add(source)
            for key in spec.bindings:
                channel.exchange_bind(destination=source, source=self.events_exchange, routing_key=key)
        for name in names:
            self._declare_work_queue(channel, spec, name)
            if spec.shards > 1:
                channel.queue_bind(name, source, routing_key="1")  # the weight of this shard
            else:
                for key in spec.bindings:
                    channel.queue_bind(name, source, routing_key=key)
        return names

    def _declare_work_queue(self, channel: BlockingChannel, spec: QueueSpec, name: str) -> None:
        arguments: dict[str, object] = {
            "x-dead-letter-exchange": self.dead_exchange,
            "x-dead-letter-routing-key": name,
            "x-queue-type": self.queue_type,
        }
        if spec.max_length:
            arguments["x-max-length"] = spec.max_length
            arguments["x-overflow"] = "reject-publish"
        channel.queue_declare(name, durable=True, arguments=arguments)
        dead = self.dead_queue_name(name)
        channel.queue_declare(dead, durable=True, arguments={"x-queue-type": self.queue_type})
        channel.queue_bind(dead, self.dead_exchange, routing_key=name)
        self.declared_queues.update({name, dead})
        for attempt, delay in enumerate(spec.retry_delays_ms, start=1):
            retry = self.retry_queue_name(name, attempt)
            channel.queue_declare(retry, durable=True, arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": name,
                "x-queue-type": self.queue_type,
            })
            self.declared_queues.add(retry)

    def teardown(self, channel: BlockingChannel) -> None:
        """Delete everything this topology object declared (tests use a throwaway namespace)."""
        for name in sorted(self.declared_queues):
            channel.queue_delete(name)
        for name in sorted(self.declared_exchanges):
            channel.exchange_delete(name)
        self.declared_queues.clear()
        self.declared_exchanges.clear()
