"""Email over SMTP: one reusable connection per delivery worker, reconnecting when it drops.

Options (`CHANNELS_ADAPTERS`): host, port, sender (the From address), sender_name, starttls,
username_env / password_env (names of environment variables holding the credentials), timeout.
The content is `{subject, body, html?}` as rendered by the campaigns service; `$first_name`-style
placeholders are filled in for requesters that send unrendered text.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
from email.message import EmailMessage
from email.utils import formataddr

from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage, RetryPolicy

_RECONNECT_ERRORS = (smtplib.SMTPServerDisconnected, ConnectionError, OSError)
# RFC 5322 dot-atom: what a msg-id's left part may hold. Campaign request ids contain ':', which the
# email package does not accept there: it cut every such Message-ID down to "<cmp", so all emails
# shared one Message-ID (a provider deduplicating by it would drop all but the first).
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def message_id(request_id: str) -> str:
    """The Message-ID of a request: the id itself when it is a dot-atom, else a stable hash of it."""
    left = request_id if _DOT_ATOM.fullmatch(request_id) else hashlib.sha256(request_id.encode()).hexdigest()[:40]
    return f"<{left}@touchpoint>"


class SmtpAdapter(ChannelAdapter):
    """Sends email through an SMTP server."""

    rate_limit_per_second = 100.0
    retry_policy = RetryPolicy(max_attempts=5, backoff_seconds=5.0)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.host = str(self.options.get("host", "127.0.0.1"))
        self.port = int(self.options.get("port", 25))
        self.sender = str(self.options.get("sender", "touchpoint@localhost"))
        self.sender_name = self.options.get("sender_name")
        self.timeout = float(self.options.get("timeout", 10))
        self.starttls = bool(self.options.get("starttls", False))
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls()
            user_env, password_env = self.options.get("username_env"), self.options.get("password_env")
            if user_env and password_env:
                smtp.login(os.environ[user_env], os.environ[password_env])
            self._smtp = smtp
        return self._smtp

    def build(self, message: RenderedMessage) -> EmailMessage:
        """The MIME message of a rendered message."""
        content = message.content
        email = EmailMessage()
        email["From"] = formataddr((self.sender_name, self.sender)) if self.sender_name else self.sender
        email["To"] = formataddr((message.recipient.display_name, message.recipient.email or ""))
        email["Subject"] = message.personalise(content.get("subject"))
        # The request id as Message-ID lets a provider (and the bounce webhook) tie a reply to it.
        email["Message-ID"] = message_id(message.request_id)
        email["X-Touchpoint-Request-Id"] = message.request_id
        email.set_content(message.personalise(content.get("body") or content.get("text")))
        if content.get("html"):
            email.add_alternative(message.personalise(content["html"]), subtype="html")
        return email

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Send one email; reconnect once if the kept connection has gone away."""
        if not message.recipient.email:
            return DeliveryResult("failed", None, "no email address")
        email = self.build(message)
        for attempt in (1, 2):
            try:
                self._connection().send_message(email)
                return DeliveryResult("sent", email["Message-ID"], f"accepted by {self.host}:{self.port}")
            except smtplib.SMTPRecipientsRefused as exc:
                return DeliveryResult("failed", None, f"recipient refused: {exc.recipients}")
            except smtplib.SMTPResponseException as exc:
                self.close()
                status = "failed" if 500 <= exc.smtp_code < 600 else "retry"
                return DeliveryResult(status, None, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
            except _RECONNECT_ERRORS as exc:
                self.close()
                if attempt == 2:
                    return DeliveryResult("retry", None, f"{exc.__class__.__name__}: {exc}")
        return DeliveryResult("retry", None, "unreachable")

    def close(self) -> None:
        """Quit the kept connection."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
