"""Campaigns and their versions: `campaigns` (the latest saved definition and its lifecycle) and
`campaign_versions` (what enrollments run, never changed once written)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from services.campaigns.repository.tables import campaign_versions, campaigns

# Built once: every batch of contact events asks which campaigns its events enter.
_TRIGGERED_BY = select(campaigns.c.event_type, campaigns.c.campaign_id, campaigns.c.version).where(
    campaigns.c.status == "active", campaigns.c.event_type == any_(bindparam("types", type_=ARRAY(String)))
).order_by(campaigns.c.campaign_id)


class CampaignStore:
    """The queries on campaigns and their versions, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, campaign_id: str, lock: bool = False) -> dict[str, Any] | None:
        """The campaign row (locked for the rest of the transaction if `lock`), or None."""
        stmt = select(campaigns).where(campaigns.c.campaign_id == campaign_id)
        row = self.conn.execute(stmt.with_for_update() if lock else stmt).mappings().first()
        return dict(row) if row is not None else None

    def versions(self, campaign_id: str) -> list[dict[str, Any]]:
        """{version, created_at} of every version of the campaign, oldest first."""
        return [dict(v) for v in self.conn.execute(
            select(campaign_versions.c.version, campaign_versions.c.created_at)
            .where(campaign_versions.c.campaign_id == campaign_id).order_by(campaign_versions.c.version)).mappings()]

    def page(self, status: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Campaigns in id order, optionally of one status, after a cursor."""
        stmt = select(campaigns).order_by(campaigns.c.campaign_id).limit(limit)
        if status:
            stmt = stmt.where(campaigns.c.status == status)
        if after:
            stmt = stmt.where(campaigns.c.campaign_id > after)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def add(self, campaign_id: str, values: Mapping[str, Any]) -> None:
        """Insert a campaign (name, status, definition, entry_type, event_type)."""
        self.conn.execute(insert(campaigns).values(campaign_id=campaign_id, **values))

    def change(self, campaign_id: str, values: Mapping[str, Any]) -> None:
        """Update a campaign's columns; `updated_at` becomes the database's now."""
        self.conn.execute(update(campaigns).where(campaigns.c.campaign_id == campaign_id)
                          .values(**values, updated_at=func.now()))

    def delete(self, campaign_id: str) -> None:
        """Delete a campaign row."""
        self.conn.execute(delete(campaigns).where(campaigns.c.campaign_id == campaign_id))

    def status(self, campaign_id: str) -> str | None:
        """draft | active | paused | archived, or None for an unknown campaign."""
        return self.conn.execute(select(campaigns.c.status).where(campaigns.c.campaign_id == campaign_id)).scalar()

    def status_and_version(self, campaign_id: str) -> tuple[str, int | None] | None:
        """(status, the version new enrollments enter with), or None for an unknown campaign."""
        row = self.conn.execute(select(campaigns.c.status, campaigns.c.version).where(
            campaigns.c.campaign_id == campaign_id)).first()
        return (row.status, row.version) if row is not None else None

    def triggered_by(self, event_types: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        """(campaign_id, version) of the active campaigns an event of each of these types enters, by type."""
        entered: dict[str, list[tuple[str, int]]] = {}
        for r in self.conn.execute(_TRIGGERED_BY, {"types": sorted(set(event_types))}):
            entered.setdefault(r.event_type, []).append((r.campaign_id, r.version))
        return entered

    def uses_template(self, template_id: str) -> bool:
        """Whether a campaign that is not archived has a step with this stored template."""
        # jsonb containment: any step whose template is this id, in a campaign still in use
        probe = {"steps": [{"template": template_id}]}
        return self.conn.execute(select(campaigns.c.campaign_id).where(
            campaigns.c.status != "archived", campaigns.c.definition.contains(probe)).limit(1)).first() is not None

    def latest_version(self, campaign_id: str) -> int:
        """The newest version number of the campaign, 0 when it has none."""
        return self.conn.execute(select(func.max(campaign_versions.c.version)).where(
            campaign_versions.c.campaign_id == campaign_id)).scalar() or 0

    def definition(self, campaign_id: str, version: int) -> dict[str, Any] | None:
        """The raw definition of one campaign version, or None."""
        return self.conn.execute(select(campaign_versions.c.definition).where(
            campaign_versions.c.campaign_id == campaign_id, campaign_versions.c.version == version)).scalar()

    def add_version(self, campaign_id: str, version: int, definition: Mapping[str, Any]) -> None:
        """Write a new version of the campaign."""
        self.conn.execute(insert(campaign_versions).values(campaign_id=campaign_id, version=version,
                                                           definition=dict(definition)))
