"""`python -m services.console [--port 8005]`: the console under gunicorn (what ./scripts/up runs)."""

from __future__ import annotations

import argparse
import os
import sys


def main() -> int:
    """Run the console."""
    parser = argparse.ArgumentParser(prog="python -m services.console")
    parser.add_argument("--bind", default=os.environ.get("CONSOLE_BIND", "127.0.0.1:8005"))
    args = parser.parse_args()
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8",
                              "--bind", args.bind, "services.console:create_app()"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
