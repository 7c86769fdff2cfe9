"""The gate's rules as stored: a JSON document in `policy_rules`, seeded with `PolicyRules.defaults()`.

Document shape (also the body of `GET/PUT /policy`; `PATCH /policy` takes a merge patch of it):

    {"caps": [{"id": "marketing-weekly", "limit": 3, "window_seconds": 604800,
               "scope": "category", "scope_value": "marketing"}],
     "min_marketing_gap_seconds": 14400,
     "quiet_hours": {"email": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "21:00"}]},
     "opt_in_channels": ["email", "sms"]}
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.channels.domain import FrequencyCap, PolicyRules, QuietHours, SendWindow
from services.channels.repository import policy_rules

RULES_ROW = 1


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def to_document(rules: PolicyRules) -> dict[str, Any]:
    """The JSON document of `rules`."""
    gap = rules.min_marketing_gap
    return {
        "caps": [{"id": c.id, "limit": c.limit, "window_seconds": int(c.window.total_seconds()),
                  "scope": c.scope.value, "scope_value": c.scope_value} for c in rules.caps],
        "min_marketing_gap_seconds": int(gap.total_seconds()) if gap else None,
        "quiet_hours": {channel: [{"weekdays": sorted(w.weekdays), "start": _hhmm(w.start), "end": _hhmm(w.end)}
                                  for w in windows]
                        for channel, windows in sorted(rules.quiet_hours.windows.items())},
        "opt_in_channels": sorted(rules.opt_in_channels),
    }


def _time(text: str | time) -> time:
    return text if isinstance(text, time) else time.fromisoformat(text)


def from_document(document: dict[str, Any]) -> PolicyRules:
    """Build `PolicyRules` from a document; raises ValueError when a rule is inconsistent."""
    caps = tuple(FrequencyCap(c["id"], c["limit"], timedelta(seconds=c["window_seconds"]), c.get("scope", "all"),
                              c.get("scope_value")) for c in document.get("caps", []))
    gap = document.get("min_marketing_gap_seconds")
    quiet = QuietHours({channel: tuple(SendWindow(frozenset(w["weekdays"]), _time(w["start"]), _time(w["end"]))
                                       for w in windows)
                        for channel, windows in (document.get("quiet_hours") or {}).items()})
    return PolicyRules(caps=caps, min_marketing_gap=timedelta(seconds=gap) if gap else None, quiet_hours=quiet,
                       opt_in_channels=frozenset(document.get("opt_in_channels") or ()))


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


def sets_no_rule(rules: PolicyRules) -> bool:
    """True when `rules` restrict nothing: no cap, no gap, no quiet hours, no opt-in channel."""
    return not (rules.caps or rules.min_marketing_gap or any(rules.quiet_hours.windows.values())
                or rules.opt_in_channels)


def save_rules(conn: Connection, rules: PolicyRules) -> int:
    """Replace the rules; returns the new version."""
    load_rules(conn)  # make sure the row exists
    return conn.execute(update(policy_rules).where(policy_rules.c.id == RULES_ROW)
                        .values(document=to_document(rules), version=policy_rules.c.version + 1,
                                updated_at=datetime.now(UTC))
                        .returning(policy_rules.c.version)).scalar_one()
