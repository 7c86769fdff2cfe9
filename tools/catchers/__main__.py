"""`python -m tools.catchers --dir .run [--mail-port 2525] [--sms-port 9090]`: run both until SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tools.catchers import DEFAULT_MAIL_PORT, DEFAULT_SMS_PORT
from tools.catchers.mail import start_mail_catcher
from tools.catchers.sms import start_sms_stub


def main(argv: list[str] | None = None) -> int:
    """Start the mail catcher and the SMS stub, wait for SIGTERM or SIGINT, stop both."""
    parser = argparse.ArgumentParser(prog="python -m tools.catchers")
    parser.add_argument("--dir", required=True, type=Path, help="mail goes to DIR/mail, SMS to DIR/sms")
    parser.add_argument("--mail-port", type=int, default=DEFAULT_MAIL_PORT)
    parser.add_argument("--sms-port", type=int, default=DEFAULT_SMS_PORT)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    mail = start_mail_catcher(args.dir / "mail", args.mail_port)
    sms = start_sms_stub(args.dir / "sms", args.sms_port)
    print(f"mail catcher on 127.0.0.1:{args.mail_port} -> {args.dir / 'mail'}; "
          f"SMS gateway stub on http://127.0.0.1:{args.sms_port}/messages -> {args.dir / 'sms'}", flush=True)
    while not stop.wait(1.0):  # a timed wait lets the signal handlers run promptly
        pass
    sms.shutdown()
    mail.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
