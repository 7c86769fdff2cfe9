"""`touchpoint mail` and `touchpoint sms`: read what the local run's catchers stored (no server needed)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from tools.catchers.store import CaughtMessages, UnknownMessage
from tools.cli.client import CliError

REPO = Path(__file__).resolve().parents[2]


def run_dir() -> Path:
    """The local run's directory: $TOUCHPOINT_RUN_DIR, else `.run/` in the checkout."""
    return Path(os.environ.get("TOUCHPOINT_RUN_DIR") or REPO / ".run")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """`mail list|show` and `sms list|show`."""
    for kind, what in (("mail", "emails caught by the local run's mail catcher"),
                       ("sms", "SMS caught by the local run's gateway stub")):
        parser = sub.add_parser(kind, help=what)
        parser.add_argument("--dir", type=Path, help=f"where they are (default: $TOUCHPOINT_RUN_DIR/{kind} or .run/{kind})")
        kind_sub = parser.add_subparsers(dest=f"{kind}_command", required=True)
        listing = kind_sub.add_parser("list", help="newest first")
        listing.add_argument("--limit", type=int, default=20)
        listing.add_argument("--json", action="store_true", help="print the index entries as JSON lines")
        show = kind_sub.add_parser("show", help="one message")
        show.add_argument("id")
        if kind == "mail":
            show.add_argument("--raw", action="store_true", help="print the whole .eml as received")


def _messages(kind: str, args: argparse.Namespace) -> CaughtMessages:
    directory = args.dir or run_dir() / kind
    return CaughtMessages(directory, ".eml" if kind == "mail" else ".json")


def _list(kind: str, args: argparse.Namespace) -> int:
    messages = _messages(kind, args)
    entries = list(messages.entries())[::-1][: max(args.limit, 0)]
    if args.json:
        for entry in entries:
            print(json.dumps(entry))
        return 0
    if not entries:
        print(f"no {kind} in {messages.directory} (./scripts/up starts the catcher and says where it listens)")
        return 0
    for entry in entries:
        if kind == "mail":
            print(f"{entry['id']:>5}  {entry.get('received_at', '')}  {entry.get('to') or ', '.join(entry['rcpt_to'])}"
                  f"  {entry.get('subject', '')}")
        else:
            print(f"{entry['id']:>5}  {entry.get('received_at', '')}  {entry.get('to', '')}  {entry.get('text', '')[:60]}")
    return 0


def _show_mail(entry: dict, content: bytes, path: Path, raw: bool) -> None:
    if raw:
        sys.stdout.write(content.decode("utf-8", errors="replace"))
        return
    email = message_from_bytes(content, policy=default_policy)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "X-Touchpoint-Request-Id"):
        if email.get(header):
            print(f"{header}: {email[header]}")
    print(f"File: {path}\n")
    body = email.get_body(("plain", "html")) if isinstance(email, EmailMessage) else None
    print(body.get_content() if body is not None else email.get_payload())


def _show(kind: str, args: argparse.Namespace) -> int:
    messages = _messages(kind, args)
    try:
        entry, content = messages.get(args.id)
    except UnknownMessage:
        raise CliError(f"no {kind} with id {args.id} in {messages.directory} "
                       f"(`touchpoint {kind} list` shows the ids)") from None
    path = messages.directory / entry["file"]
    if kind == "mail":
        _show_mail(entry, content, path, args.raw)
    else:
        body = json.loads(content)
        for field in ("to", "from", "reference"):
            print(f"{field.capitalize()}: {body.get(field) or ''}")
        print(f"Received: {entry.get('received_at', '')}\nFile: {path}\n\n{body.get('text', '')}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch `mail ...` / `sms ...`."""
    kind = args.command
    return _list(kind, args) if getattr(args, f"{kind}_command") == "list" else _show(kind, args)
