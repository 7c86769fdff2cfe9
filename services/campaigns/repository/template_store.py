"""Stored message templates (`templates`): one channel, a subject, a body and an optional html part."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from services.campaigns.repository.tables import templates

# Built once: a send step renders its stored template once per enrollment that reaches it.
_CONTENT = select(templates.c.channel, templates.c.subject, templates.c.body, templates.c.html).where(
    templates.c.template_id == bindparam("template_id"))


class TemplateStore:
    """The queries on stored templates, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, template_id: str) -> dict[str, Any] | None:
        """The whole template row, or None."""
        row = self.conn.execute(select(templates).where(templates.c.template_id == template_id)).mappings().first()
        return dict(row) if row is not None else None

    def content(self, template_id: str) -> dict[str, Any] | None:
        """{channel, subject, body, html} of a stored template (what a send renders), or None."""
        row = self.conn.execute(_CONTENT, {"template_id": template_id}).mappings().first()
        return dict(row) if row else None

    def channel(self, template_id: str) -> str | None:
        """The channel of a stored template, or None when there is no such template."""
        return self.conn.execute(select(templates.c.channel).where(templates.c.template_id == template_id)).scalar()

    def page(self, channel: str | None) -> list[dict[str, Any]]:
        """Templates by name, optionally of one channel."""
        stmt = select(templates).order_by(templates.c.name, templates.c.template_id)
        if channel:
            stmt = stmt.where(templates.c.channel == channel)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def add(self, template_id: str, values: Mapping[str, Any]) -> None:
        """Insert a template (name, channel, subject, body, html)."""
        self.conn.execute(insert(templates).values(template_id=template_id, **values))

    def replace(self, template_id: str, values: Mapping[str, Any]) -> None:
        """Overwrite a template's parts; `updated_at` becomes the database's now."""
        self.conn.execute(update(templates).where(templates.c.template_id == template_id)
                          .values(**values, updated_at=func.now()))

    def delete(self, template_id: str) -> None:
        """Delete a template row."""
        self.conn.execute(delete(templates).where(templates.c.template_id == template_id))
