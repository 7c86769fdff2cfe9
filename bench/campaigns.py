"""Campaigns benchmark: enroll a broadcast of 100,000 contacts and request their messages.

    /tmp/probe-venv/bin/python -m bench.campaigns [--contacts 100000] [--no-baseline]

Uses the database `touchpoint_bench_campaigns` (recreated) and a throwaway broker namespace. A
real campaigns worker (consumers + outbox relay) runs with an in-memory segment source instead
of the contacts HTTP call; the benchmark publishes one `broadcast.due` and measures

- enrollments/s: broadcast.due published -> every contact enrolled (committed rows), and
- message.requested/s: broadcast.due published -> every message.requested arrived on a probe
  queue (so it includes the outbox relay and the broker hop),

and prints the bare-RabbitMQ one-hop rate measured in the same run for comparison.
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
import time
import uuid
from datetime import UTC, datetime

import pika
from sqlalchemy import func, select

from services.campaigns.consumers import subscriptions
from services.campaigns.handlers import definitions
from services.campaigns.repository import enrollments
from services.campaigns.segments import PAGE_SIZE, InMemorySegmentSource
from services.campaigns.service import DEFINITION
from services.campaigns.unit_of_work import CampaignsUnitOfWorkFactory
from shared.config import DEFAULT_AMQP_URL, Settings, default_database_url
from shared.contracts import register_contracts
from shared.db.engine import drop_database, make_engine
from shared.db.migrate import migrate
from shared.messaging import Message
from shared.messaging.publisher import ConfirmingPublisher
from shared.runtime import Worker

register_contracts()  # as a service process does at start-up

CAMPAIGN = {
    "name": "bench newsletter", "category": "marketing",
    "entry": {"type": "segment", "segment_id": "everyone", "schedule": {"cron": "0 9 * * 1"}},
    "steps": [{"id": "split", "type": "split", "variants": [{"name": "A", "weight": 1, "next": "a"},
                                                            {"name": "B", "weight": 1, "next": "b"}]},
              {"id": "a", "type": "send", "channel": "email",
               "template": {"subject": "Hi {{ contact.first_name }}", "body": "News for {{ contact.tier }}"}},
              {"id": "b", "type": "send", "channel": "email",
               "template": {"subject": "Hello {{ contact.first_name }}", "body": "Your {{ contact.tier }} news"}}],
}


class Probe:
    """Counts message.requested arrivals on a queue of the namespace, in a thread."""

    def __init__(self, amqp_url: str, namespace: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(f"{namespace}.events", exchange_type="topic", durable=True)
        self.queue = f"{namespace}.probe"
        self.channel.queue_declare(self.queue, durable=False, exclusive=True)
        self.channel.queue_bind(self.queue, f"{namespace}.events", routing_key="message.requested")
        self.channel.basic_qos(prefetch_count=1000)
        self.count = 0
        self.last_at = 0.0
        self.channel.basic_consume(self.queue, self._on_message, auto_ack=True)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_message(self, *_args) -> None:
        self.count += 1
        self.last_at = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.connection.process_data_events(time_limit=0.1)

    def close(self) -> None:
        """Stop consuming and close."""
        self._stop.set()
        self.thread.join(5)
        self.connection.close()


def run(contacts: int, amqp_url: str) -> dict[str, float]:
    """One broadcast of `contacts` members; return the rates."""
    url = default_database_url("touchpoint_bench_campaigns")
    drop_database(url)
    migrate(DEFINITION.migrations_dir, url)
    namespace = f"bench_{uuid.uuid4().hex[:8]}"
    settings = Settings(service="campaigns", database_url=url, amqp_url=amqp_url, namespace=namespace)
    engine = make_engine(url)
    members = [{"contact_id": f"c{i:07d}", "email": f"c{i}@example.com", "first_name": f"N{i}",
                "time_zone": "Europe/Amsterdam", "attributes": {"tier": "gold"}} for i in range(contacts)]
    source = InMemorySegmentSource({"everyone": members})
    with CampaignsUnitOfWorkFactory(engine)() as uow:
        campaign_id = definitions.create_campaign(uow, CAMPAIGN, {"email"})["campaign_id"]
        definitions.transition(uow, campaign_id, "activate", {"email"}, datetime.now(UTC))
    definition = dataclasses.replace(DEFINITION, subscriptions=lambda s, e: subscriptions(s, e, source))
    worker = Worker(definition, settings, engine)
    worker.start()
    while not worker.runner.connected.is_set():
        time.sleep(0.05)
    probe = Probe(amqp_url, namespace)
    publisher = ConfirmingPublisher(amqp_url, f"{namespace}.events")
    started = time.perf_counter()
    publisher.publish(Message("broadcast.due", {"schedule_id": f"campaign:{campaign_id}", "campaign_id": campaign_id,
                                                "fire_time": datetime.now(UTC).isoformat()}))
    enrolled_at = None
    while probe.count < contacts:
        if enrolled_at is None:
            with engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(enrollments)).scalar() >= contacts:
                    enrolled_at = time.perf_counter()
        time.sleep(0.2)
    enrolled_at = enrolled_at or probe.last_at
    worker.stop()
    probe.close()
    publisher.close()
    engine.dispose()
    return {"contacts": contacts, "enroll_seconds": enrolled_at - started,
            "enrollments_per_s": contacts / (enrolled_at - started),
            "requested_seconds": probe.last_at - started,
            "requested_per_s": contacts / (probe.last_at - started)}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()
    if not args.no_baseline:
        from bench.baseline import measure_baseline, print_baseline

        print_baseline(measure_baseline(args.amqp_url))
    result = run(args.contacts, args.amqp_url)
    print(f"broadcast of {result['contacts']:,} contacts (split A/B, one email each, pages of {PAGE_SIZE:,}):")
    print(f"  enrolled in {result['enroll_seconds']:.1f} s   -> {result['enrollments_per_s']:,.0f} enrollments/s")
    print(f"  requested in {result['requested_seconds']:.1f} s -> {result['requested_per_s']:,.0f} message.requested/s"
          " (arrived on a probe queue)")


if __name__ == "__main__":
    main()
