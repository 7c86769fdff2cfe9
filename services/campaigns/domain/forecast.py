"""What a segment campaign's forecast asks the gate about, and how the chunks' answers add up (pure).

A forecast asks the channels service's gate (`POST /forecast`) what it would decide right now for the
campaign's first send step, for every member of the segment. The first send step is the one nearest the
entry's start step: a breadth-first walk along each step's ways out in their order (`next`; a branch's arms,
then `else`; a split's variants), so the send a contact reaches first without a fork wins, and among sends
at the same depth the one behind the first arm or variant. Waits before it are not waited out: the
forecast is the gate's view *now*, not at the time the step would be reached.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.campaigns.domain.steps import REGISTRY

OUTCOMES = ("send", "deferred", "suppressed", "capped", "expired", "duplicate")
RuleKey = tuple[str, str, str | None]


@dataclass(frozen=True)
class ForecastStep:
    """The send step a forecast asks about, as the gate would see its request."""

    step_id: str
    channel: str
    category: str
    priority: int
    topic: str | None
    expires_after: timedelta | None

    def message(self, campaign_id: str, at: datetime) -> dict[str, Any]:
        """The `message` of channels' `POST /forecast` (the request the engine would publish, without content)."""
        return {"channel": self.channel, "category": self.category, "campaign_id": campaign_id,
                "step_id": self.step_id, "priority": self.priority, "topic": self.topic,
                "expires_at": (at + self.expires_after).isoformat() if self.expires_after is not None else None}


def first_send_step(definition: Mapping[str, Any]) -> ForecastStep | None:
    """The send step nearest the start of a (valid, stored) definition; None when no send is reachable."""
    steps = {step["id"]: step for step in definition.get("steps", []) if isinstance(step, Mapping)}
    start = (definition.get("entry") or {}).get("start_step") or next(iter(steps), None)
    queue, seen = deque([start] if start in steps else []), {start}
    while queue:
        raw = steps[queue.popleft()]
        kind = REGISTRY.get(raw.get("type"))
        if kind is None:
            continue
        if kind.sends:
            step = kind.parse(raw)
            priority = getattr(step, "priority", None)
            return ForecastStep(raw["id"], step.channel, definition["category"],
                                definition.get("priority", 0) if priority is None else priority,
                                definition.get("topic"), getattr(step, "expires_after", None))
        for _, target in kind.edges(raw):
            if target in steps and target not in seen:
                seen.add(target)
                queue.append(target)
    return None


class Totals:
    """The sum of the gate's answers for the chunks of one forecast."""

    def __init__(self) -> None:
        self.by_rule: Counter[RuleKey] = Counter()
        self.capacity_taken: dict[str, int] = {}
        self.evaluated = 0

    def add(self, answer: Mapping[str, Any]) -> None:
        """Add one chunk's answer (`by_rule` rows, `evaluated`); keep its `capacity_taken` for the next chunk."""
        self.evaluated += int(answer["evaluated"])
        for row in answer["by_rule"]:
            self.by_rule[(row["outcome"], row["reason"], row.get("rule_id"))] += int(row["count"])
        self.capacity_taken = dict(answer.get("capacity_taken") or {})

    def by_outcome(self) -> dict[str, int]:
        """Counts per outcome, every outcome present (0 included)."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for (outcome, _, _), count in self.by_rule.items():
            counts[outcome] = counts.get(outcome, 0) + count
        return counts

    def rules(self) -> list[dict[str, Any]]:
        """`by_rule` rows in the order of the outcomes (send first), the largest first within one."""
        def order(item: tuple[RuleKey, int]) -> tuple[int, int, str, str]:
            (outcome, reason, rule_id), count = item
            rank = OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)
            return rank, -count, reason, rule_id or ""

        return [{"outcome": o, "reason": r, "rule_id": i, "count": n}
                for (o, r, i), n in sorted(self.by_rule.items(), key=order)]


def chunks(items: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    """`items` in lists of at most `size`."""
    batch: list[Mapping[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
