"""The gate with capacity rules (`handlers.gate.decide_requests` on in-memory fakes): priority first
across the batch, counters held once per batch, units taken with the touches and given back on release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.channels.domain import CapacityRule, PolicyRules
from services.channels.handlers.gate import decide_requests
from tests.properties import examples
from tests.unit.channels.fakes import FakeUnitOfWork
from tests.unit.channels.test_gate_handler import outcomes, request

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TODAY = datetime(2026, 3, 4, tzinfo=UTC)
CALLS = CapacityRule("calls", "call", 2, "day", "UTC")
RULES = PolicyRules(capacity=(CALLS,))


def test_scarce_capacity_goes_to_the_highest_priority_across_contacts_and_campaigns():
    uow = FakeUnitOfWork(RULES)
    batch = [request("low", "c1", channel="call", priority=1, campaign_id="a"),
             request("high", "c9", channel="call", priority=9, campaign_id="b"),
             request("mid", "c5", channel="call", priority=5, campaign_id="a"),
             request("mail", "c2", channel="email", priority=0)]
    decide_requests(uow, batch, NOW)
    assert outcomes(uow) == {"high": ["send"], "mid": ["send"], "low": ["deferred"], "mail": ["send"]}
    [(kind, payload, _)] = uow.published
    assert (kind, payload["reason"], payload["rule_id"]) == ("message.deferred", "capacity", "calls")
    assert payload["defer_until"] == (TODAY + timedelta(days=1)).isoformat()
    assert payload["request"]["deferrals"] == 1
    assert uow.ledger.capacity.used == {("calls", TODAY): 2}
    assert uow.ledger.capacity.held == [[("calls", TODAY)]]  # once per batch, only the windows it may use


def test_a_batch_that_no_rule_applies_to_holds_no_counter():
    uow = FakeUnitOfWork(RULES)
    decide_requests(uow, [request("r1", channel="email"), request("r2", channel="call", category="transactional")],
                    NOW)
    assert outcomes(uow) == {"r1": ["send"], "r2": ["send"]}
    assert uow.ledger.capacity.held == [[]] and uow.ledger.capacity.used == {}


def test_later_batches_see_the_count_redeliveries_take_nothing_and_a_release_gives_the_unit_back():
    uow = FakeUnitOfWork(RULES)
    decide_requests(uow, [request("r1", "c1", channel="call"), request("r2", "c2", channel="call")], NOW)
    decide_requests(uow, [request("r1", "c1", channel="call"), request("r3", "c3", channel="call")], NOW)
    assert outcomes(uow) == {"r1": ["send"], "r2": ["send"], "r3": ["deferred"]}
    assert uow.ledger.capacity.used == {("calls", TODAY): 2}
    uow.ledger.release(request_ids=["r2"])  # e.g. the call task expired unclaimed
    assert uow.ledger.capacity.used == {("calls", TODAY): 1}
    uow.ledger.release(request_ids=["r2"])  # releasing twice gives back once
    assert uow.ledger.capacity.used == {("calls", TODAY): 1}
    comeback = request("r3", "c3", channel="call", deferrals=1)
    decide_requests(uow, [comeback], NOW + timedelta(minutes=5))
    assert outcomes(uow)["r3"] == ["deferred", "send"]


def test_the_next_window_has_its_own_count():
    uow = FakeUnitOfWork(RULES)
    decide_requests(uow, [request(f"r{i}", f"c{i}", channel="call") for i in range(3)], NOW)
    decide_requests(uow, [request("r2", "c2", channel="call", deferrals=1)], TODAY + timedelta(days=1))
    assert outcomes(uow)["r2"] == ["deferred", "send"]
    assert uow.ledger.capacity.used == {("calls", TODAY): 2, ("calls", TODAY + timedelta(days=1)): 1}


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(0, 6), st.integers(0, 6),
       st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["call", "email"]),
                          st.sampled_from(["marketing", "service", "transactional"])), max_size=25))
def test_a_batch_gives_the_free_units_to_the_highest_priorities(limit, used, batch):
    """Whatever the batch, exactly min(free, demand) of the messages under the rule are sent, no sent one
    has a lower priority than a deferred one, and the counter ends at used + sent (never past the limit)."""
    rule = CapacityRule("calls", "call", limit, "day", "UTC")
    uow = FakeUnitOfWork(PolicyRules(capacity=(rule,)))
    uow.ledger.capacity.used[rule.key(NOW)] = min(used, limit)
    requests = [request(f"r{i}", f"c{i % 7}", channel=channel, category=category, priority=priority)
                for i, (priority, channel, category) in enumerate(batch)]
    decide_requests(uow, requests, NOW)
    decided = {row["request_id"]: row["outcome"] for row in uow.decisions.rows}
    under = [r for r in requests if r["channel"] == "call" and r["category"] != "transactional"]
    sent = [r["priority"] for r in under if decided[r["request_id"]] == "send"]
    deferred = [r["priority"] for r in under if decided[r["request_id"]] == "deferred"]
    free = limit - min(used, limit)
    assert len(sent) == min(free, len(under)) and len(sent) + len(deferred) == len(under)
    assert not sent or not deferred or min(sent) >= max(deferred)
    assert uow.ledger.capacity.used[rule.key(NOW)] == min(used, limit) + len(sent) <= limit
    assert all(decided[r["request_id"]] == "send" for r in requests if r not in under)
