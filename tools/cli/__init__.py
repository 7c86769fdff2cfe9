"""`touchpoint`: the operator's and marketer's command line.

Admin commands work on the databases and broker directly (set-up, first key, dead letters);
everyday commands talk to the services' HTTP APIs with an API key (TOUCHPOINT_API_KEY or --key).
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
from tools.cli import caught
from tools.cli.client import DEFAULT_URLS, CliError

__all__ = ["DEFAULT_URLS", "REPO", "build_parser", "main", "setup_databases"]

REPO = Path(__file__).resolve().parents[2]


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


def _dlq(args: argparse.Namespace) -> int:
    from shared.messaging import deadletters

    amqp_url = os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL
    if args.dlq_command == "list":
        import pika

        vhost = pika.URLParameters(amqp_url).virtual_host  # the deployment's vhost, not always "/"
        out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
                             capture_output=True, text=True, check=True).stdout
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


def _admin(sub) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print the service's JSON answer")
    quiet_flag = argparse.ArgumentParser(add_help=False)
    quiet_flag.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser = argparse.ArgumentParser(prog="touchpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", help="API key (default: $TOUCHPOINT_API_KEY)")
    sub = parser.add_subparsers(dest="command", required=True)
    _admin(sub)

    contacts = sub.add_parser("contacts", help="bulk operations on contacts")
    contacts_sub = contacts.add_subparsers(dest="contacts_command", required=True)
    imp = contacts_sub.add_parser("import", parents=[quiet_flag], help="import a .csv or .jsonl file")
    imp.add_argument("file")
    imp.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file extension")
    imp.add_argument("--phone-region", help="region of phone numbers without +, e.g. GB")
    imp.add_argument("--wait", dest="wait", action="store_true", default=True,
                     help="follow the job to its report (the default)")
    imp.add_argument("--no-wait", dest="wait", action="store_false", help="upload and return")

    contact = sub.add_parser("contact", help="one contact")
    contact_sub = contact.add_subparsers(dest="contact_command", required=True)
    contact_sub.add_parser("show", parents=[json_flag]).add_argument("id")
    ctl = contact_sub.add_parser("timeline", parents=[json_flag], help="newest first")
    ctl.add_argument("id")
    ctl.add_argument("--limit", type=int, default=50)

    camp = sub.add_parser("campaign", help="campaigns")
    camp_sub = camp.add_subparsers(dest="campaign_command", required=True)
    create = camp_sub.add_parser("create", help="create from a YAML or JSON definition")
    create.add_argument("file")
    create.add_argument("--activate", action="store_true", help="activate it right away")
    for action in ("activate", "pause", "resume", "archive"):
        camp_sub.add_parser(action, help=f"{action} a campaign").add_argument("id")
    listing = camp_sub.add_parser("list", parents=[json_flag])
    listing.add_argument("--status", choices=("draft", "active", "paused", "archived"))
    camp_sub.add_parser("show", parents=[json_flag], help="the definition and versions").add_argument("id")
    camp_sub.add_parser("report", parents=[json_flag], help="per-step counts").add_argument("id")
    camp_sub.add_parser("forecast", parents=[json_flag],
                        help="what the gate would decide now for each segment member (nothing is sent)").add_argument("id")
    proof = camp_sub.add_parser("proof", parents=[json_flag],
                                help="send every send step, marked as a proof, to the campaign's proof_recipients")
    proof.add_argument("id")
    proof.add_argument("--contact", help="render for this contact id (default: a sample contact)")
    proof.add_argument("--step", help="only this send step")
    approve = camp_sub.add_parser("approve", help="approve the campaign's current revision (a second key)")
    approve.add_argument("id")
    approve.add_argument("--revision", type=int, help="the revision you reviewed; refused if it changed since")

    pol = sub.add_parser("policy", help="the dispatch gate's contact policy (caps, quiet hours, opt-in, "
                                        "control group, capacity)")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True)
    pol_sub.add_parser("show", parents=[json_flag], help="the current policy (operator or marketer key)")
    allow_empty = argparse.ArgumentParser(add_help=False)
    allow_empty.add_argument("--allow-empty", action="store_true",
                             help="accept a policy that restricts nothing (refused otherwise)")
    put = pol_sub.add_parser("put", parents=[json_flag, allow_empty],
                             help="replace the whole policy from a JSON (or YAML) file (operator key)")
    put.add_argument("file", help="every member required; `policy show --json` output works as a start")
    patch = pol_sub.add_parser("patch", parents=[json_flag, allow_empty],
                               help="change part of the policy: a JSON merge patch (operator key)")
    patch.add_argument("patch", metavar="FILE|JSON", help="a file, or the patch itself: '{\"control_group\": null}'")

    gate = sub.add_parser("forecast", parents=[json_flag],
                          help="what the gate would decide now for one message to listed contacts (channels)")
    gate.add_argument("file", metavar="FILE.json", help='{"message": {...}, "contacts": [...], "capacity_taken"?}')
    gate.add_argument("--at", help="decide as at this ISO 8601 time with an offset (default: now)")

    broadcast = sub.add_parser("broadcast", help="segment broadcasts")
    bc_sub = broadcast.add_subparsers(dest="broadcast_command", required=True)
    trigger = bc_sub.add_parser("trigger", parents=[quiet_flag], help="fire a broadcast schedule now")
    trigger.add_argument("schedule_id", help="e.g. campaign:<campaign id>")
    trigger.add_argument("--campaign", help="campaign whose report to follow (default: from campaign:<id>)")
    trigger.add_argument("--no-wait", action="store_true", help="do not follow the enrollments")
    trigger.add_argument("--settle", type=float, default=5.0,
                         help="seconds without growth after which the broadcast counts as done")

    event = sub.add_parser("event", parents=[json_flag],
                           help="post an event: touchpoint event post CONTACT_ID TYPE '{\"amount\": 1}'")
    event.add_argument("words", nargs="+", metavar="[post] CONTACT_ID TYPE [JSON]")
    timeline = sub.add_parser("timeline", parents=[json_flag], help="a contact's timeline (= contact timeline)")
    timeline.add_argument("contact_id")
    timeline.add_argument("--limit", type=int, default=50)
    decisions = sub.add_parser("decisions", parents=[json_flag], help="the dispatch gate's decisions for a contact")
    decisions.add_argument("contact_id")
    report = sub.add_parser("report", parents=[json_flag], help="a campaign's report (= campaign report)")
    report.add_argument("id")
    tasks = sub.add_parser("tasks", parents=[json_flag], help="call-center tasks (agent key)")
    tasks.add_argument("--status", default="open", choices=("open", "claimed", "completed", "expired"))
    offers = sub.add_parser("offers", parents=[json_flag], help="a contact's web offers (channel_owner key)")
    offers.add_argument("contact_id")
    audit = sub.add_parser("audit", parents=[json_flag], help="a service's audit trail, newest first (operator key)")
    audit.add_argument("service", choices=("contacts", "campaigns", "channels", "scheduler"))
    for name in ("actor", "action", "entity-type", "entity-id"):
        audit.add_argument(f"--{name}")
    audit.add_argument("--since", help="ISO 8601 time with an offset")
    audit.add_argument("--until", help="ISO 8601 time with an offset")
    audit.add_argument("--limit", type=int, default=50)
    caught.add_parsers(sub)
    return parser


def run(args: argparse.Namespace) -> int:
    """Dispatch parsed arguments to their command."""
    from tools.cli import commands

    if args.command == "setup":
        setup_databases()
        return 0
    if args.command == "create-key":
        print(_key_store().create(args.name, args.role)[1])
        return 0
    if args.command == "dlq":
        return _dlq(args)
    if args.command in ("mail", "sms"):
        return caught.run(args)
    if args.command == "report":
        args.campaign_command = "report"
        return commands.campaign(args)
    handlers = {"contacts": commands.contacts_import, "contact": commands.contact, "campaign": commands.campaign,
                "broadcast": commands.broadcast_trigger, "event": commands.post_event,
                "timeline": commands.timeline, "decisions": commands.decisions, "tasks": commands.tasks,
                "offers": commands.offers, "policy": commands.policy, "forecast": commands.gate_forecast,
                "audit": commands.audit}
    return handlers[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `touchpoint` command."""
    args = build_parser().parse_args(argv)
    if args.key is None:
        args.key = os.environ.get("TOUCHPOINT_API_KEY")
    try:
        return run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
