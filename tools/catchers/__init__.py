"""Local stand-ins for the outside world of the local run: a mail catcher and an SMS gateway stub.

`./scripts/up` starts both (`python -m tools.catchers`) on loopback and points the email and SMS
channels at them, so the demo's messages can be read (`touchpoint mail list`, `touchpoint sms list`)
instead of vanishing. Production configuration never refers to them.
"""

from tools.catchers.store import CaughtMessages

DEFAULT_MAIL_PORT = 2525
DEFAULT_SMS_PORT = 9090

__all__ = ["DEFAULT_MAIL_PORT", "DEFAULT_SMS_PORT", "CaughtMessages"]
