"""Small helpers for server-drawn SVG and the templates' formatting filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from markupsafe import Markup, escape


def clip(text: Any, width: int) -> str:
    """`text` shortened to `width` characters with an ellipsis."""
    value = str(text if text is not None else "")
    return value if len(value) <= width else value[: max(1, width - 1)] + "…"


def text(x: float, y: float, value: Any, css: str = "", anchor: str = "middle") -> str:
    """An escaped SVG <text> element."""
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" class="{css}">{escape(str(value))}</text>'


def svg(width: float, height: float, body: list[str], label: str, css: str = "") -> Markup:
    """A scalable SVG (its viewBox keeps it readable on a phone) with an accessible name."""
    return Markup(f'<svg class="{css}" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
                  f'role="img" '
                  f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{"".join(body)}</svg>')


def when(value: Any) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM UTC` (what the services answer is UTC or offset-aware)."""
    if not value:
        return "—"
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return parsed.strftime("%Y-%m-%d %H:%M") + (" UTC" if parsed.utcoffset() is not None else "")


def register_filters(app: Flask) -> None:
    """Filters the templates use."""
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["clip"] = clip
