"""`touchpoint`: the operator's and marketer's command line.

Admin commands work on the databases and broker directly (set-up, first key, dead letters);
everyday commands talk to the services' HTTP APIs with an API key (TOUCHPOINT_API_KEY).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import DEFAULT_AMQP_URL, SERVICES, database_url_for, default_database_url

REPO = Path(__file__).resolve().parents[1]
DEFAULT_URLS = {"contacts": "http://127.0.0.1:8001", "campaigns": "http://127.0.0.1:8002",
                "channels": "http://127.0.0.1:8003", "scheduler": "http://127.0.0.1:8004"}


def setup_databases() -> None:
    """Create every database that is missing and migrate all of them to head."""
    from shared.auth.keys import MIGRATIONS_DIR
    from shared.db.migrate import migrate

    migrate(MIGRATIONS_DIR, os.environ.get("AUTH_DATABASE_URL") or default_database_url("touchpoint_auth"))
    for service in SERVICES:
        migrations = REPO / "services" / service / "migrations"
        if migrations.is_dir():
            migrate(migrations, database_url_for(service))
            print(f"migrated {service}")


def _key_store():
    from shared.auth.keys import ApiKeyStore
    from shared.db.engine import make_engine

    return ApiKeyStore(make_engine(os.environ.get("AUTH_DATABASE_URL") or default_database_url("touchpoint_auth"),
                                   pool_size=1))


def _api(service: str, args: argparse.Namespace):
    import requests

    base = os.environ.get(f"TOUCHPOINT_{service.upper()}_URL") or DEFAULT_URLS[service]
    key = args.key or os.environ.get("TOUCHPOINT_API_KEY")
    if not key:
        sys.exit("set TOUCHPOINT_API_KEY or pass --key")
    session = requests.Session()
    session.headers["X-API-Key"] = key
    return base, session


def _show(response) -> int:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    print(json.dumps(body, indent=2, default=str) if not isinstance(body, str) else body)
    return 0 if response.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `touchpoint` command."""
    parser = argparse.ArgumentParser(prog="touchpoint", description=__doc__)
    parser.add_argument("--key", help="API key (default: $TOUCHPOINT_API_KEY)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create and migrate every database")
    create_key = sub.add_parser("create-key", help="create an API key (prints it once)")
    create_key.add_argument("--role", required=True)
    create_key.add_argument("--name", required=True)
    dlq = sub.add_parser("dlq", help="dead-letter queues")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_sub.add_parser("list", help="dead-letter queues with messages (needs rabbitmqctl)")
    peek = dlq_sub.add_parser("show", help="show dead messages of a queue, with their reasons")
    peek.add_argument("queue")
    peek.add_argument("--limit", type=int, default=20)
    replay = dlq_sub.add_parser("replay", help="move dead messages back to their work queue")
    replay.add_argument("queue")
    replay.add_argument("--limit", type=int)
    timeline = sub.add_parser("timeline", help="a contact's timeline")
    timeline.add_argument("contact_id")
    decisions = sub.add_parser("decisions", help="the dispatch gate's decisions for a contact")
    decisions.add_argument("contact_id")
    event = sub.add_parser("event", help="post an event: touchpoint event CONTACT_ID TYPE '{\"amount\": 1}'")
    event.add_argument("contact_id")
    event.add_argument("type")
    event.add_argument("data", nargs="?", default="{}")
    report = sub.add_parser("report", help="a campaign's report")
    report.add_argument("campaign_id")
    args = parser.parse_args(argv)
    amqp_url = os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL

    if args.command == "setup":
        setup_databases()
        return 0
    if args.command == "create-key":
        key, text = _key_store().create(args.name, args.role)
        print(text)
        return 0
    if args.command == "dlq":
        from shared.messaging import deadletters

        if args.dlq_command == "list":
            out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages"], capture_output=True,
                                 text=True, check=True).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0].endswith(".dead") and parts[1] != "0":
                    print(f"{parts[1]:>8}  {parts[0]}")
            return 0
        if args.dlq_command == "show":
            for dead in deadletters.peek(amqp_url, args.queue, args.limit):
                print(json.dumps(dead.__dict__, default=str))
            return 0
        print(f"replayed {deadletters.replay(amqp_url, args.queue, args.limit)}")
        return 0
    if args.command == "timeline":
        base, session = _api("contacts", args)
        return _show(session.get(f"{base}/contacts/{args.contact_id}/timeline", timeout=30))
    if args.command == "decisions":
        base, session = _api("channels", args)
        return _show(session.get(f"{base}/decisions", params={"contact_id": args.contact_id}, timeout=30))
    if args.command == "event":
        import uuid

        base, session = _api("contacts", args)
        body = {"event_id": str(uuid.uuid4()), "contact_id": args.contact_id, "type": args.type,
                "data": json.loads(args.data)}
        from datetime import UTC, datetime

        body["occurred_at"] = datetime.now(UTC).isoformat()
        return _show(session.post(f"{base}/events", json=body, timeout=30))
    if args.command == "report":
        base, session = _api("campaigns", args)
        return _show(session.get(f"{base}/campaigns/{args.campaign_id}/report", timeout=30))
    return 2


if __name__ == "__main__":
    sys.exit(main())
