"""Capacity counters: how many units of each capacity rule's window are taken, exactly.

One row per (rule id, window start) in `capacity_counters`. The gate `hold`s the rows of the windows
its batch may use (created at 0 when missing, then locked FOR UPDATE in key order, after the contact
locks), decides on their counts, and `take`s one unit per send in the same transaction as the touch
reservation; another gate worker wanting the same window waits for the commit and then sees the new
count, so several workers and redeliveries never take more than the limit. `take` also refuses (raises,
rolling the batch back) an increment past the limit, a backstop should a caller decide without the lock.

Each unit taken is a `capacity_claims` row (touch id, rule id, window start). When the ledger releases a
touch (failed for good, cancelled), `give_back` deletes its claims and decrements the windows they were
taken from: a send that never happened leaves its unit to the next message of that window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, text

from services.channels.domain import CapacityKey, CapacityUsage


class CapacityExceeded(RuntimeError):
    """A unit was taken past a rule's limit: the counters were not held while deciding."""


def _columns(keys: Iterable[CapacityKey]) -> tuple[list[str], list[datetime]]:
    ordered = sorted(set(keys))
    return [rule for rule, _ in ordered], [start for _, start in ordered]


class CapacityCounters:
    """The capacity counters and claims of one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def hold(self, keys: Iterable[CapacityKey]) -> CapacityUsage:
        """Lock the counters of `keys` until the transaction ends (creating missing ones at 0); their usage."""
        rules, starts = _columns(keys)
        if not rules:
            return CapacityUsage()
        self.conn.execute(text(
            "INSERT INTO capacity_counters (rule_id, window_start) "
            "SELECT * FROM unnest(CAST(:rules AS text[]), CAST(:starts AS timestamptz[])) ORDER BY 1, 2 "
            "ON CONFLICT DO NOTHING"), {"rules": rules, "starts": starts})
        rows = self.conn.execute(text(
            "SELECT c.rule_id, c.window_start, c.used FROM capacity_counters AS c "
            "JOIN unnest(CAST(:rules AS text[]), CAST(:starts AS timestamptz[])) AS k(rule_id, window_start) "
            "ON c.rule_id = k.rule_id AND c.window_start = k.window_start "
            "ORDER BY c.rule_id, c.window_start FOR UPDATE OF c"), {"rules": rules, "starts": starts})
        return CapacityUsage({(row.rule_id, row.window_start): row.used for row in rows})

    def peek(self, keys: Iterable[CapacityKey]) -> CapacityUsage:
        """The usage of `keys` without locking anything (dry runs)."""
        rules, starts = _columns(keys)
        if not rules:
            return CapacityUsage()
        rows = self.conn.execute(text(
            "SELECT c.rule_id, c.window_start, c.used FROM capacity_counters AS c "
            "JOIN unnest(CAST(:rules AS text[]), CAST(:starts AS timestamptz[])) AS k(rule_id, window_start) "
            "ON c.rule_id = k.rule_id AND c.window_start = k.window_start"), {"rules": rules, "starts": starts})
        return CapacityUsage({(row.rule_id, row.window_start): row.used for row in rows})

    def take(self, claims: Mapping[int, Sequence[CapacityKey]], limits: Mapping[str, int]) -> None:
        """Record that each touch (by id) took one unit of each of its keys; raises `CapacityExceeded` (the
        transaction must roll back) if a counter would pass its rule's limit."""
        pairs = [(touch_id, key) for touch_id, keys in claims.items() for key in keys]
        if not pairs:
            return
        self.conn.execute(text(
            "INSERT INTO capacity_claims (touch_id, rule_id, window_start) "
            "SELECT * FROM unnest(CAST(:touches AS bigint[]), CAST(:rules AS text[]), "
            "CAST(:starts AS timestamptz[]))"),
            {"touches": [t for t, _ in pairs], "rules": [k[0] for _, k in pairs], "starts": [k[1] for _, k in pairs]})
        counts = sorted(Counter(key for _, key in pairs).items())
        params = {"rules": [k[0] for k, _ in counts], "starts": [k[1] for k, _ in counts],
                  "ns": [n for _, n in counts], "limits": [limits[k[0]] for k, _ in counts]}
        updated = self.conn.execute(text(
            "UPDATE capacity_counters AS c SET used = c.used + v.n, updated_at = now() "
            "FROM unnest(CAST(:rules AS text[]), CAST(:starts AS timestamptz[]), CAST(:ns AS int[]), "
            "CAST(:limits AS int[])) AS v(rule_id, window_start, n, lim) "
            "WHERE c.rule_id = v.rule_id AND c.window_start = v.window_start AND c.used + v.n <= v.lim "
            "RETURNING c.rule_id"), params).rowcount
        if updated != len(counts):
            raise CapacityExceeded(f"{len(counts) - updated} capacity window(s) would pass their limit")

    def give_back(self, touch_ids: Sequence[int]) -> None:
        """Release the units the touches took (their claims go; each window's count drops by its claims)."""
        if not touch_ids:
            return
        gone = self.conn.execute(text(
            "DELETE FROM capacity_claims WHERE touch_id = ANY(CAST(:ids AS bigint[])) "
            "RETURNING rule_id, window_start"), {"ids": list(touch_ids)}).all()
        if not gone:
            return
        # In key order, like `hold`, so two releases never wait for each other in a cycle.
        counts = sorted(Counter((row.rule_id, row.window_start) for row in gone).items())
        rules, starts = _columns(key for key, _ in counts)
        self.conn.execute(text(
            "SELECT 1 FROM capacity_counters AS c "
            "JOIN unnest(CAST(:rules AS text[]), CAST(:starts AS timestamptz[])) AS k(rule_id, window_start) "
            "ON c.rule_id = k.rule_id AND c.window_start = k.window_start "
            "ORDER BY c.rule_id, c.window_start FOR UPDATE OF c"), {"rules": rules, "starts": starts})
        self.conn.execute(text(
            "UPDATE capacity_counters AS c SET used = greatest(c.used - v.n, 0), updated_at = now() "
            "FROM unnest(CAST(:rules AS text[]), CAST(:starts AS timestamptz[]), CAST(:ns AS int[])) "
            "AS v(rule_id, window_start, n) WHERE c.rule_id = v.rule_id AND c.window_start = v.window_start"),
            {"rules": [k[0] for k, _ in counts], "starts": [k[1] for k, _ in counts], "ns": [n for _, n in counts]})
