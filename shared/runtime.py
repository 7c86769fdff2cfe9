"""How a service process starts: `python -m services.<name> migrate|api|worker|relay`.

Each service describes itself once with a `ServiceDefinition` (its app factory, its consumers,
its migrations); this module turns that into processes, so no service writes its own loop.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from flask import Flask
from sqlalchemy import Engine

from shared.config import Settings
from shared.contracts import register_contracts
from shared.db.engine import make_engine, wait_for_database
from shared.db.migrate import migrate
from shared.logs import configure_logging
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.inbox import InboxJanitor
from shared.messaging.outbox import MessagingTables, OutboxRelay
from shared.messaging.topology import Topology

log = logging.getLogger(__name__)


class BackgroundTask(Protocol):
    """A loop a worker process runs beside its consumers (a scheduler tick, a sweeper)."""

    def run(self) -> None:
        """Loop until stop() is called."""

    def stop(self) -> None:
        """Ask the loop to end."""


@dataclass
class ServiceDefinition:
    """Everything the runtime needs to know about one service."""

    name: str
    migrations_dir: Path
    tables: MessagingTables
    create_app: Callable[[Settings], Flask]
    subscriptions: Callable[[Settings, Engine], Sequence[Subscription]] = lambda s, e: []
    background: Callable[[Settings, Engine], Sequence[BackgroundTask]] = lambda s, e: []
    default_port: int = 8000
    extra_commands: dict[str, Callable[[Settings, list[str]], int]] = field(default_factory=dict)


class Worker:
    """A worker process: consumers, the outbox relay and background tasks, stopped together."""

    def __init__(self, definition: ServiceDefinition, settings: Settings, engine: Engine | None = None,
                 relay: bool = True, consumers: bool = True, background: bool = True) -> None:
        register_contracts()  # start-up of a worker: consumers validate every payload against these
        self.definition = definition
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url, pre_ping=False)
        topology = Topology(settings.namespace, settings.queue_type)
        subscriptions = list(definition.subscriptions(settings, self.engine)) if consumers else []
        self.runner = ConsumerRunner(settings.service, settings.amqp_url, topology, self.engine,
                                     definition.tables, subscriptions) if subscriptions else None
        self.relay = OutboxRelay(self.engine, definition.tables, settings.amqp_url, topology.events_exchange,
                                 settings.service) if relay else None
        self.tasks = list(definition.background(settings, self.engine)) if background else []
        if self.runner is not None:
            self.tasks.append(InboxJanitor(self.engine, definition.tables.inbox))
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start every part in its own thread."""
        parts: list[tuple[str, Callable[[], None]]] = []
        if self.relay:
            parts.append(("relay", self.relay.run))
        if self.runner:
            parts.append(("consumer", self.runner.run))
        parts.extend((task.__class__.__name__, task.run) for task in self.tasks)
        for name, target in parts:
            thread = threading.Thread(target=target, name=f"{self.settings.service}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every part and wait for it to finish its batch."""
        for task in self.tasks:
            task.stop()
        if self.runner:
            self.runner.stop()
        if self.relay:
            self.relay.stop()
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        """Start, then block until SIGTERM or SIGINT, then stop gracefully."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        log.info("worker started", extra={"relay": bool(self.relay), "consumers": bool(self.runner),
                                          "tasks": [t.__class__.__name__ for t in self.tasks]})
        done.wait()
        log.info("worker stopping")
        self.stop()


def main(definition: ServiceDefinition, argv: Sequence[str] | None = None) -> int:
    """Command line of a service process."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{definition.name}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if missing and apply migrations")
    api = sub.add_parser("api", help="serve the HTTP API (development server; use gunicorn in production)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=definition.default_port)
    worker = sub.add_parser("worker", help="consumers + outbox relay + background tasks")
    worker.add_argument("--no-relay", action="store_true")
    worker.add_argument("--no-consumers", action="store_true")
    worker.add_argument("--no-background", action="store_true")
    sub.add_parser("relay", help="only the outbox relay")
    for name in definition.extra_commands:
        extra = sub.add_parser(name)
        extra.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    settings = Settings.from_env(definition.name)
    configure_logging(definition.name, settings.log_level)
    if args.command == "migrate":
        migrate(definition.migrations_dir, settings.database_url)
        return 0
    if args.command == "api":
        from shared.http.serving import ProblemRequestHandler

        definition.create_app(settings).run(host=args.host, port=args.port, threaded=True,
                                            request_handler=ProblemRequestHandler)
        return 0
    if args.command in ("worker", "relay"):
        engine = make_engine(settings.database_url, pre_ping=False)  # see make_engine: workers retry
        wait_for_database(engine)
        only_relay = args.command == "relay"
        Worker(definition, settings, engine,
               relay=only_relay or not args.no_relay,
               consumers=not only_relay and not args.no_consumers,
               background=not only_relay and not args.no_background).run_forever()
        return 0
    return definition.extra_commands[args.command](settings, args.args)
