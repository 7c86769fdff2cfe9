"""The local mail catcher: an SMTP server on loopback (aiosmtpd) that stores every message it accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tools.catchers.store import CaughtMessages


class MailCatcher:
    """aiosmtpd handler: every message becomes `<dir>/<id>.eml` plus an index entry."""

    def __init__(self, messages: CaughtMessages) -> None:
        self.messages = messages

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  (aiosmtpd hook)
        """Store the message exactly as received and answer 250 with its id."""
        content = envelope.original_content or envelope.content
        headers = BytesHeaderParser(policy=default_policy).parsebytes(content)
        summary = {"received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "mail_from": envelope.mail_from, "rcpt_to": list(envelope.rcpt_tos),
                   "from": str(headers.get("From", "")), "to": str(headers.get("To", "")),
                   "subject": str(headers.get("Subject", "")), "message_id": str(headers.get("Message-ID", "")),
                   "size": len(content)}
        return f"250 OK stored as {self.messages.add(content, summary)}"


def start_mail_catcher(directory: Path | str, port: int, host: str = "127.0.0.1") -> Controller:
    """Start the catcher in a background thread; `.stop()` the returned controller to end it."""
    controller = Controller(MailCatcher(CaughtMessages(directory, ".eml")), hostname=host, port=port)
    controller.start()
    return controller
