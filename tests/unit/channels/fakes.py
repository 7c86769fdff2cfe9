"""In-memory fakes of the channels repositories, shaped like `services.channels.unit_of_work.ChannelsUnitOfWork`.

They keep plain lists and dicts and answer the same questions the SQL repositories answer, so the
handlers run unchanged with no database and no broker (cosmicpython's FakeRepository / FakeUnitOfWork).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from services.channels.domain import (
    CapacityKey,
    CapacityUsage,
    PlannedSend,
    PolicyRules,
    PriorDecisions,
    StepKey,
    Suppression,
    Touch,
)
from shared.clock import system_clock
from tests.unit.shared.audit_fake import FakeAuditLog

COUNTED = ("reserved", "sent")


class FakeContactCopy:
    """Contacts, their suppressions and consents; `locked` records every lock taken, in order."""

    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}
        self.suppressions: dict[str, list[Suppression]] = defaultdict(list)
        self.consents: dict[str, dict[str, str]] = defaultdict(dict)
        self.locked: list[list[str]] = []

    def lock(self, contact_ids: Iterable[str]) -> dict[str, SimpleNamespace]:
        ids = sorted(set(contact_ids))
        self.locked.append(ids)
        for cid in ids:
            self.rows.setdefault(cid, SimpleNamespace(contact_id=cid, time_zone=None, email=None, phone=None,
                                                      first_name=None, last_name=None, locale=None))
        return {cid: self.rows[cid] for cid in ids}

    def profiles(self, contact_ids: Sequence[str]) -> dict[str, SimpleNamespace]:
        return {cid: self.rows[cid] for cid in contact_ids if cid in self.rows}

    def facts(self, contact_ids: Sequence[str]) -> tuple[dict[str, list[Suppression]], dict[str, dict[str, str]]]:
        return ({cid: list(self.suppressions[cid]) for cid in contact_ids if self.suppressions.get(cid)},
                {cid: dict(self.consents[cid]) for cid in contact_ids if self.consents.get(cid)})

    def upsert_suppression(self, contact_id: str, suppression_id: str, scope: str, value: str | None, reason: str,
                           active: bool, changed_at: datetime, expires_at: datetime | None = None) -> None:
        kept = [s for s in self.suppressions[contact_id] if s.id != suppression_id]
        self.suppressions[contact_id] = kept + ([Suppression(suppression_id, scope, value, reason, expires_at)]
                                                if active else [])

    def forget_facts(self, contact_id: str) -> None:
        self.suppressions.pop(contact_id, None)
        self.consents.pop(contact_id, None)

    def erase(self, contact_id: str) -> None:
        row = self.rows.get(contact_id)
        if row is not None:
            row.time_zone = row.email = row.phone = row.first_name = row.last_name = row.locale = None


class FakeCapacity:
    """Capacity counters and claims; `held` records every set of windows locked, in order."""

    def __init__(self) -> None:
        self.used: dict[CapacityKey, int] = {}
        self.claims: dict[int, tuple[CapacityKey, ...]] = {}
        self.held: list[list[CapacityKey]] = []

    def hold(self, keys: Iterable[CapacityKey]) -> CapacityUsage:
        ordered = sorted(set(keys))
        self.held.append(ordered)
        return CapacityUsage({key: self.used.get(key, 0) for key in ordered})

    def peek(self, keys: Iterable[CapacityKey]) -> CapacityUsage:
        return CapacityUsage({key: self.used[key] for key in keys if key in self.used})

    def take(self, claims: dict[int, Sequence[CapacityKey]], limits: dict[str, int]) -> None:
        for touch_id, keys in claims.items():
            self.claims[touch_id] = tuple(keys)
            for key in keys:
                self.used[key] = self.used.get(key, 0) + 1
                assert self.used[key] <= limits[key[0]], key  # the real table refuses it too

    def give_back(self, touch_ids: Sequence[int]) -> None:
        for touch_id in touch_ids:
            for key in self.claims.pop(touch_id, ()):
                self.used[key] -= 1


class FakeLedger:
    """Touches as dicts with the ledger's states."""

    def __init__(self) -> None:
        self.touches: list[dict[str, Any]] = []
        self.capacity = FakeCapacity()

    def counted_since(self, contact_ids: Sequence[str], since: datetime) -> dict[str, list[Touch]]:
        found: dict[str, list[Touch]] = defaultdict(list)
        for t in self.touches:
            if t["contact_id"] in contact_ids and t["at"] > since and t["state"] in COUNTED:
                found[t["contact_id"]].append(Touch(t["channel"], t["category"], t["campaign_id"], t["topic"],
                                                    t["at"], t["state"]))
        return found

    def live_steps(self, keys: Iterable[StepKey]) -> set[StepKey]:
        wanted = {key[:3] for key in keys}
        return {(t["campaign_id"], t["step_id"], t["contact_id"], t["occurrence"] or "") for t in self.touches
                if (t["campaign_id"], t["step_id"], t["contact_id"]) in wanted and t["state"] in COUNTED}

    def reserve(self, requests: Sequence[dict[str, Any]], at: datetime,
                capacity: dict[str, Sequence[CapacityKey]] | None = None,
                limits: dict[str, int] | None = None) -> dict[str, int]:
        ids = {}
        for r in requests:
            self.touches.append({"id": len(self.touches) + 1, "state": "reserved", "at": at,
                                 **{k: r.get(k) for k in ("request_id", "contact_id", "channel", "category",
                                                          "campaign_id", "step_id", "occurrence", "topic")}})
            ids[r["request_id"]] = len(self.touches)
        self.capacity.take({ids[rid]: keys for rid, keys in (capacity or {}).items() if keys}, limits or {})
        return ids

    def move_contact(self, duplicate_id: str, survivor_id: str) -> int:
        live = {(t["campaign_id"], t["step_id"], t["occurrence"] or "") for t in self.touches
                if t["contact_id"] == survivor_id and t["campaign_id"] and t["step_id"] and t["state"] in COUNTED}
        moved = [t for t in self.touches if t["contact_id"] == duplicate_id]
        for t in moved:
            if t["state"] in COUNTED and (t["campaign_id"], t["step_id"], t["occurrence"] or "") in live:
                t["occurrence"] = f"{t['occurrence'] or ''}@merged:{t['id']}"
            t["contact_id"] = survivor_id
        return len(moved)

    def settle(self, fates: Sequence[tuple[int, str]]) -> None:
        for touch_id, state in fates:
            self.touches[touch_id - 1]["state"] = str(state)
        self.capacity.give_back([touch_id for touch_id, state in fates if str(state) in ("failed", "cancelled")])

    def release(self, *, touch_id: int | None = None, request_ids: Sequence[str] = (), cancelled: bool = False) -> None:
        released = []
        for t in self.touches:
            if t["id"] == touch_id or t["request_id"] in request_ids:
                t["state"] = "cancelled" if cancelled else "failed"
                released.append(t["id"])
        self.capacity.give_back(released)


class FakeDecisionLog:
    """Decision rows as the gate writes them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def prior(self, request_ids: Sequence[str]) -> dict[str, PriorDecisions]:
        out: dict[str, PriorDecisions] = {}
        for row in self.rows:
            if row["request_id"] in request_ids:
                seen = out.get(row["request_id"], PriorDecisions())
                out[row["request_id"]] = PriorDecisions(seen.attempts | {row["attempt"]},
                                                        seen.final or row["outcome"] != "deferred")
        return out

    def move_contact(self, duplicate_id: str, survivor_id: str) -> None:
        for row in self.rows:
            if row["contact_id"] == duplicate_id:
                row["contact_id"] = survivor_id

    def record(self, rows: Sequence[dict[str, Any]]) -> None:
        keys = {(r["request_id"], r["attempt"]) for r in self.rows}
        for row in rows:  # the unique index of the real table
            assert (row["request_id"], row["attempt"]) not in keys, row
        self.rows.extend(rows)


class FakeJobs:
    """Delivery jobs the gate enqueued."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []

    def enqueue(self, requests: Sequence[dict[str, Any]], touch_ids: dict[str, int],
                wire: Sequence[dict[str, Any]]) -> None:
        for r, body in zip(requests, wire, strict=True):
            self.jobs.append({"request_id": r["request_id"], "touch_id": touch_ids[r["request_id"]],
                              "state": "pending", "request": body})


class FakePlannedSends:
    """Planned sends by plan id, as dicts with `live` and `changed_at` (newer facts win, as in the table)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def of_contacts(self, contact_ids: Sequence[str], due_after: datetime) -> dict[str, list[PlannedSend]]:
        found: dict[str, list[PlannedSend]] = defaultdict(list)
        for r in self.rows.values():
            if r["contact_id"] in contact_ids and r["live"] and r["due_at"] > due_after:
                key = (r["campaign_id"], r["step_id"], r["contact_id"], r.get("occurrence") or "") \
                    if r.get("campaign_id") and r.get("step_id") else None
                found[r["contact_id"]].append(PlannedSend(r["plan_id"], r["channel"], r["category"], r["priority"],
                                                          r["due_at"], r.get("campaign_id"), key, r.get("request_id")))
        return found

    def plan(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            old = self.rows.get(row["plan_id"])
            if old is None or old["changed_at"] <= row["changed_at"]:
                self.rows[row["plan_id"]] = {"step_id": None, "occurrence": None, "request_id": None,
                                             "campaign_id": None, **row, "live": True}

    def cancel(self, at: datetime, plan_id: str | None = None, campaign_id: str | None = None) -> None:
        for r in self.rows.values():
            if (r["plan_id"] == plan_id or (campaign_id and r["campaign_id"] == campaign_id)) \
                    and r["changed_at"] <= at:
                r.update(live=False, changed_at=at)

    def end(self, plan_ids: Sequence[str], at: datetime) -> None:
        for plan_id in plan_ids:
            if self.rows.get(plan_id, {}).get("live"):
                self.rows[plan_id].update(live=False, changed_at=at)

    def forget_contact(self, contact_id: str) -> None:
        self.rows = {k: r for k, r in self.rows.items() if r["contact_id"] != contact_id}

    def move_contact(self, duplicate_id: str, survivor_id: str) -> None:
        for row in self.rows.values():
            if row["contact_id"] == duplicate_id:
                row["contact_id"] = survivor_id

    def prune(self, due_before: datetime) -> int:
        before = len(self.rows)
        self.rows = {k: r for k, r in self.rows.items() if r["due_at"] >= due_before}
        return before - len(self.rows)


class FakeRules:
    """Rules that count how often they were loaded."""

    def __init__(self, rules: PolicyRules) -> None:
        self.rules = rules
        self.loads = 0

    def load(self) -> tuple[PolicyRules, int]:
        self.loads += 1
        return self.rules, 1


class FakeUnitOfWork:
    """A ChannelsUnitOfWork with fakes; `published` is the outbox as (type, payload, key)."""

    def __init__(self, rules: PolicyRules | None = None) -> None:
        self.contacts = FakeContactCopy()
        self.audit = FakeAuditLog()
        self.ledger = FakeLedger()
        self.decisions = FakeDecisionLog()
        self.jobs = FakeJobs()
        self.rules = FakeRules(rules or PolicyRules())
        self.planned = FakePlannedSends()
        self.clock = system_clock
        self.published: list[tuple[str, dict[str, Any], str | None]] = []

    def publish(self, message_type: str, payload: dict[str, Any], key: str | None = None) -> None:
        self.published.append((message_type, payload, key))
