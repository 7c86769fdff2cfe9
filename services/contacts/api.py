"""HTTP layer of the contacts service: parse with a schema, call a handler, dump with a schema."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    """The service's blueprints."""
    return []
