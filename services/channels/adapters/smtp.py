"""Email over SMTP through a pool of kept connections, so many messages are in flight at once.

A real relay answers each message after 50-300 ms; one connection would cap the channel at a few
messages a second. `send` is called by up to `max_in_flight` threads at once (default 48), each
taking its own connection from the pool (`adapters/pool.py`, as many connections as
`max_in_flight`). A connection is reused across messages; after a refused message it is reset with
RSET, after idling `idle_check_seconds` (default 30) it is checked with NOOP before reuse, and one
that broke is closed and replaced; a dropped connection (the relay restarted) closes every idle one
and the send is tried once more on a fresh connection.

Options (`CHANNELS_ADAPTERS`): host, port, sender (the From address), sender_name, starttls,
username_env / password_env (names of environment variables holding the credentials), timeout,
max_in_flight, idle_check_seconds, unsubscribe_mailto (an address that takes unsubscribe requests by
mail: added to List-Unsubscribe as `mailto:` with the token in the subject), unsubscribe_scope
(`channel`, the default: the link stops email; `topic`: it stops the message's topic, or email when
the message has none), preferences_footer (the line added to a marketing email whose template has
no `$preferences_url`, with `{url}` where the link goes: one text for every contact, or a mapping of
language to text, e.g. `{"en": "...", "fr": "..."}`, laid over the built-in English and German
lines; the contact's locale picks the line, English when it has none or its language has no line).

Every marketing message carries RFC 8058 one-click unsubscribe headers: `List-Unsubscribe` with the
contacts service's `/u/<token>` link (TOUCHPOINT_PUBLIC_URL; the token is signed with
UNSUBSCRIBE_SECRET, `shared/unsubscribe.py`) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
The body of a marketing message carries the link to the contact's preference center (`/p/<token>`,
the same token): where the template writes `$preferences_url` (or `$unsubscribe_url`, the one-click
page), else in a footer appended to the text and HTML parts. Transactional and service messages carry
neither headers nor link. Mailbox providers honour the headers only in a DKIM signature that covers them: the relay must sign `List-Unsubscribe` and `List-Unsubscribe-Post`.
The content is `{subject, body, html?}` as rendered by the campaigns service; `$first_name`-style
placeholders are filled in for requesters that send unrendered text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTPUTF8, default
from html import escape

from services.channels.adapters import mime
from services.channels.adapters.base import ChannelAdapter, DeliveryResult, RenderedMessage, RetryPolicy
from services.channels.adapters.pool import ConnectionPool, PoolClosed
from shared import unsubscribe

log = logging.getLogger(__name__)
ONE_CLICK = ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
PROOF_HEADER = ("X-Touchpoint-Proof", "1")
# The footer of a marketing email whose template does not place `$preferences_url` itself, per
# language (the primary subtag of the contact's locale); English when the language has none.
DEFAULT_FOOTERS = {"en": "Manage your preferences or unsubscribe: {url}",
                   "de": "Einstellungen verwalten oder abmelden: {url}"}
FALLBACK_LANGUAGE = "en"

_RECONNECT_ERRORS = (smtplib.SMTPServerDisconnected, ConnectionError, OSError)
# RFC 5322 dot-atom: what a msg-id's left part may hold. Campaign request ids contain ':', which the
# email package does not accept there: it cut every such Message-ID down to "<cmp", so all emails
# shared one Message-ID (a provider deduplicating by it would drop all but the first).
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def message_id(request_id: str) -> str:
    """The Message-ID of a request: the id itself when it is a dot-atom, else a stable hash of it."""
    left = request_id if _DOT_ATOM.fullmatch(request_id) else hashlib.sha256(request_id.encode()).hexdigest()[:40]
    return f"<{left}@touchpoint>"


def footers(option: object) -> dict[str, str]:
    """The footer line per language from the `preferences_footer` option (text, or language → text).

    One text is the operator's line for every contact (it replaces both built-in lines); a mapping is
    laid over the built-in ones, so naming `fr` keeps the English and German lines."""
    if not option:
        return dict(DEFAULT_FOOTERS)
    if isinstance(option, dict):
        return {**DEFAULT_FOOTERS, **{str(k).lower(): str(v) for k, v in option.items()}}
    return {FALLBACK_LANGUAGE: str(option)}


def footer_for(lines: dict[str, str], locale: str | None) -> str:
    """The footer line in the contact's language (`de-AT` → `de`), else the English one."""
    language = (locale or "").strip().replace("_", "-").split("-")[0].lower()
    return lines.get(language) or lines[FALLBACK_LANGUAGE]


def _address(display_name: str | None, email: str) -> Address:
    """A header address from its parts: parsing an addr-spec would refuse a non-ASCII local part."""
    local, _, domain = email.rpartition("@")
    return Address(display_name or "", username=local, domain=domain)


def _noop_ok(smtp: smtplib.SMTP) -> bool:
    """The health check of an idle connection."""
    return smtp.noop()[0] == 250


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


class SmtpAdapter(ChannelAdapter):
    """Sends email through an SMTP server, over a pool of reusable connections (thread-safe)."""

    rate_limit_per_second = 100.0
    retry_policy = RetryPolicy(max_attempts=5, backoff_seconds=5.0)
    # 48 carries ~480 sends/s from one worker at 100 ms a message and stays within postfix's default of
    # 50 connections per client (smtpd_client_connection_count_limit); 16 capped it at ~160 sends/s.
    max_in_flight = 48
    seed_address = "email"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.host = str(self.options.get("host", "127.0.0.1"))
        self.port = int(self.options.get("port", 25))
        self.sender = str(self.options.get("sender", "touchpoint@localhost"))
        self.sender_name = self.options.get("sender_name")
        self.timeout = float(self.options.get("timeout", 10))
        self.starttls = bool(self.options.get("starttls", False))
        self.pool: ConnectionPool[smtplib.SMTP] = ConnectionPool(
            self._connect, _quit, size=self.max_in_flight, check=_noop_ok,
            check_after=float(self.options.get("idle_check_seconds", 30)))
        settings = self.context.settings if self.context is not None else None
        self.unsubscribe_secret = settings.unsubscribe_secrets[0] if settings and settings.unsubscribe_secrets else ""
        self.public_url = settings.public_url if settings is not None else ""
        self.unsubscribe_mailto = str(self.options.get("unsubscribe_mailto") or "")
        self.unsubscribe_scope = str(self.options.get("unsubscribe_scope") or "channel")
        self.footers = footers(self.options.get("preferences_footer"))
        if any("{url}" not in line for line in self.footers.values()):
            raise ValueError(f"preferences_footer of {self.channel!r} must contain {{url}} in every language")
        if self.unsubscribe_scope not in unsubscribe.SCOPES:
            raise ValueError(f"unsubscribe_scope of {self.channel!r} must be one of {unsubscribe.SCOPES}")
        clock = self.context.clock if self.context is not None else None
        self._now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        if not self.unsubscribe_secret:
            log.warning("no UNSUBSCRIBE_SECRET: marketing email on %r goes out without one-click unsubscribe "
                        "headers, which large mailbox providers require of bulk senders", self.channel)

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls()
            user_env, password_env = self.options.get("username_env"), self.options.get("password_env")
            if user_env and password_env:
                smtp.login(os.environ[user_env], os.environ[password_env])
        except BaseException:
            smtp.close()
            raise
        return smtp

    def token(self, message: RenderedMessage) -> str | None:
        """The signed unsubscribe token of a marketing message (one per message); None for others.

        A proof has none: its links would act for the contact it was rendered for, not for the
        seed address that receives it."""
        if message.proof or message.category != "marketing" or not self.unsubscribe_secret:
            return None
        scope, value = ("topic", message.topic) if self.unsubscribe_scope == "topic" and message.topic \
            else ("channel", message.channel)
        return unsubscribe.mint(self.unsubscribe_secret, message.contact_id, scope, value, self._now())

    def list_headers(self, token: str | None, proof: bool = False) -> list[tuple[str, str]]:
        """RFC 8058 List-Unsubscribe and List-Unsubscribe-Post of a marketing message's token; none without one.

        A proof carries `X-Touchpoint-Proof: 1` instead."""
        if proof:
            return [PROOF_HEADER]
        if token is None:
            return []
        targets = [f"<{unsubscribe.unsubscribe_url(self.public_url, token)}>"]
        if self.unsubscribe_mailto:
            targets.append(f"<mailto:{self.unsubscribe_mailto}?subject=unsubscribe%20{token}>")
        return [("List-Unsubscribe", ", ".join(targets)), ONE_CLICK]

    def parts(self, message: RenderedMessage, token: str | None) -> tuple[str, str | None]:
        """The text and HTML bodies, personalised; a marketing message's carry its preference center link.

        `$preferences_url` (and `$unsubscribe_url`) in a template become the links of the message's
        token; a marketing body that has no `$preferences_url` gets the footer (adapter option
        `preferences_footer`, `{url}` in it, in the recipient's language), so every marketing email
        carries the link.
        """
        content = message.content
        text, html = content.get("body") or content.get("text"), content.get("html")
        if token is None:
            return message.personalise(text), message.personalise(html) if html else None
        url = unsubscribe.preferences_url(self.public_url, token)
        footer = footer_for(self.footers, message.recipient.locale)
        links = {"preferences_url": url, "unsubscribe_url": unsubscribe.unsubscribe_url(self.public_url, token)}
        body = message.personalise(text, links)
        if "$preferences_url" not in (text or "") and "${preferences_url}" not in (text or ""):
            body = f"{body.rstrip()}\n\n-- \n{footer.format(url=url)}\n"
        if html and "$preferences_url" not in html and "${preferences_url}" not in html:
            footer = escape(footer.format(url="\0")).split("\0")
            link = f'<a href="{escape(url)}">{escape(url)}</a>'
            note = f'<p style="font-size:12px;color:#555555">{link.join(footer)}</p>'
            html = html.replace("</body>", note + "</body>") if "</body>" in html else html + note
        return body, message.personalise(html, links) if html else None

    def build(self, message: RenderedMessage) -> EmailMessage:
        """The MIME message of a rendered message."""
        content = message.content
        recipient = message.recipient.email or ""
        # An international (non-ASCII) address is written as UTF-8, to be sent with SMTPUTF8
        # (smtplib's send_message asks the relay for it, and refuses when the relay lacks it).
        email = EmailMessage(policy=SMTPUTF8 if not (self.sender + recipient).isascii() else default)
        email["From"] = _address(self.sender_name, self.sender)
        email["To"] = _address(message.recipient.display_name, recipient)
        email["Subject"] = message.personalise(content.get("subject"))
        # The request id as Message-ID lets a provider (and the bounce webhook) tie a reply to it.
        email["Message-ID"] = message_id(message.request_id)
        email["X-Touchpoint-Request-Id"] = message.request_id
        token = self.token(message)
        for name, value in self.list_headers(token, message.proof):
            email[name] = value
        text, html = self.parts(message, token)
        email.set_content(text)
        if html:
            email.add_alternative(html, subtype="html")
        return email

    def render(self, message: RenderedMessage) -> bytes | EmailMessage:
        """The message's SMTP DATA bytes (the fast path, `mime.py`), or an EmailMessage for unusual ones."""
        token = self.token(message)
        text, html = self.parts(message, token)
        data = mime.render(self.sender, self.sender_name, message.recipient.email or "",
                           message.recipient.display_name, message.personalise(message.content.get("subject")),
                           message_id(message.request_id), message.request_id, text, html,
                           self.list_headers(token, message.proof))
        return data if data is not None else self.build(message)

    def send(self, message: RenderedMessage) -> DeliveryResult:
        """Send one email on a pooled connection; on a dropped connection try once more on a fresh one."""
        if not message.recipient.email:
            return DeliveryResult("failed", None, "no email address")
        try:
            data = self.render(message)
        except (ValueError, TypeError) as exc:
            # The email package refuses what it cannot write: a line break in a header value (a
            # personalised subject or name carrying a header injection), an address it can't parse.
            # No retry would change that: fail this message with the reason, never the worker.
            return DeliveryResult("failed", None, f"unsendable message: {exc}")
        for attempt in (1, 2):
            try:
                smtp = self.pool.take(timeout=self.timeout)
            except (*_RECONNECT_ERRORS, smtplib.SMTPException, TimeoutError, PoolClosed) as exc:
                return DeliveryResult("retry", None, f"connect: {exc.__class__.__name__}: {exc}")
            try:
                if isinstance(data, bytes):
                    smtp.sendmail(self.sender, [message.recipient.email], data)
                else:
                    smtp.send_message(data)
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset(smtp)
                # 4xx at RCPT (greylisting, mailbox temporarily unavailable) is a soft bounce: try again later.
                temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
                return DeliveryResult("retry" if temporary else "failed", None, f"recipient refused: {exc.recipients}")
            except smtplib.SMTPNotSupportedError as exc:
                # An international (non-ASCII) address needs SMTPUTF8, which this relay does not offer.
                self._reset(smtp)
                return DeliveryResult("failed", None, f"the relay does not support SMTPUTF8: {exc}")
            except smtplib.SMTPResponseException as exc:
                self._reset(smtp)
                status = "failed" if 500 <= exc.smtp_code < 600 else "retry"
                return DeliveryResult(status, None, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
            except _RECONNECT_ERRORS as exc:
                self.pool.discard(smtp)
                self.pool.discard_idle()  # the relay went away: the idle connections are dead too
                if attempt == 2:
                    return DeliveryResult("retry", None, f"{exc.__class__.__name__}: {exc}")
                continue
            except BaseException:
                self.pool.discard(smtp)
                raise
            self.pool.give_back(smtp)
            return DeliveryResult("sent", message_id(message.request_id), f"accepted by {self.host}:{self.port}")
        return DeliveryResult("retry", None, "unreachable")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """After a refused message: RSET keeps the connection for the next one, or it is replaced."""
        try:
            healthy = smtp.rset()[0] == 250
        except (smtplib.SMTPException, OSError):
            healthy = False
        if healthy:
            self.pool.give_back(smtp)
        else:
            self.pool.discard(smtp)

    def close(self) -> None:
        """Quit the pooled connections (those still sending are quit when they come back)."""
        self.pool.close()
