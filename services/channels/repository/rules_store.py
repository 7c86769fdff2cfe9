"""The stored gate rules: one versioned JSON document in `policy_rules` (shape: services.channels.rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.domain import PolicyRules
from services.channels.repository.tables import policy_rules
from services.channels.rules import from_document, to_document

RULES_ROW = 1


def load_rules(conn: Connection) -> tuple[PolicyRules, int]:
    """The current rules and their version; seeds the shipped defaults on first read."""
    row = conn.execute(select(policy_rules.c.document, policy_rules.c.version)
                       .where(policy_rules.c.id == RULES_ROW)).first()
    if row is None:
        conn.execute(pg_insert(policy_rules).values(id=RULES_ROW, document=to_document(PolicyRules.defaults()))
                     .on_conflict_do_nothing(index_elements=["id"]))
        row = conn.execute(select(policy_rules.c.document, policy_rules.c.version)
                           .where(policy_rules.c.id == RULES_ROW)).one()
    return from_document(row.document), row.version


def lock_document(conn: Connection) -> tuple[dict[str, Any], int]:
    """The stored document and version, with the rules row locked (FOR UPDATE) until the transaction ends.

    A read-modify-write (PATCH) holds this lock so two concurrent partial changes serialise instead of the
    second overwriting the first with the document it read before the first committed."""
    load_rules(conn)  # make sure the row exists
    row = conn.execute(select(policy_rules.c.document, policy_rules.c.version)
                       .where(policy_rules.c.id == RULES_ROW).with_for_update()).one()
    return to_document(from_document(row.document)), row.version


def save_rules(conn: Connection, rules: PolicyRules) -> int:
    """Replace the rules; returns the new version."""
    load_rules(conn)  # make sure the row exists
    return conn.execute(update(policy_rules).where(policy_rules.c.id == RULES_ROW)
                        .values(document=to_document(rules), version=policy_rules.c.version + 1,
                                updated_at=datetime.now(UTC))
                        .returning(policy_rules.c.version)).scalar_one()


class RulesStore:
    """The rules of one transaction (the object form of `load_rules` / `save_rules`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load(self) -> tuple[PolicyRules, int]:
        """The current rules and their version."""
        return load_rules(self.conn)

    def lock_document(self) -> tuple[dict[str, Any], int]:
        """The stored document and version, the rules row locked until the transaction ends."""
        return lock_document(self.conn)

    def save(self, rules: PolicyRules) -> int:
        """Replace the rules; returns the new version."""
        return save_rules(self.conn, rules)
