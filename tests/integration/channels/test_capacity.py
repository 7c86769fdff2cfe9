"""Capacity rules hold exactly with several gate workers, every message delivered twice, and sends that
fail for good giving their unit back while the gate is still deciding (issue 13 point 1).

Real RabbitMQ (8 dispatch shards, five workers on overlapping shards), real PostgreSQL, the internal
call-center adapter and a stand-in SMS gateway that refuses the first sends for good.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from services.channels.domain import CapacityRule
from tests.integration.channels.conftest import Clock, request_message
from tests.support import wait_for

# Five channels workers of up to 18 database connections each: run alone, not beside another test process.
pytestmark = [pytest.mark.integration, pytest.mark.alone]

CONTACTS = 300
CALLS, TEXTS = 40, 60  # the capacity of the day / of the hour; demand is CONTACTS of each
REFUSED = 15  # SMS the gateway refuses for good: their units come back while the gate still decides
CAPACITY = [
    {"id": "calls-daily", "channel": "call", "category": None, "limit": CALLS, "window": "day",
     "time_zone": "Europe/Amsterdam", "when_full": "defer"},
    {"id": "sms-hourly", "channel": "sms", "category": "marketing", "limit": TEXTS, "window": "hour",
     "time_zone": "UTC", "when_full": "defer"},
]
POLICY = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
          "control_group": None, "capacity": CAPACITY}


def _twice(index: int, message):
    """The message and a redelivery of it: the same envelope, or the same request in a new envelope."""
    if index % 2:
        return [message, message]
    return [message, request_message(**{**message.payload, "message_id": str(uuid.uuid4())})]


def _live(conn) -> dict[str, int]:
    return dict(conn.execute(text(
        "SELECT channel, count(*) FROM touches WHERE state IN ('reserved', 'sent') GROUP BY channel")).all())


def test_capacity_is_never_exceeded_with_parallel_workers_and_redelivery(channels_env, gateway):
    now = datetime.now(UTC).replace(minute=20, second=0, microsecond=0)  # one window for the whole test
    gateway.statuses.extend([400] * REFUSED)
    env = channels_env(adapters={"sms": {"adapter": "sms_gateway", "url": gateway.url,
                                         "rate_limit_per_second": 5000}, "call": {"adapter": "call_center"}},
                       policy=POLICY, clock=Clock(now), start=False)
    for consume in ("0,1", "2,3", "4,5", "6,7", "1,2,5,6"):  # five gate workers, two of them on shared shards
        env.start_worker(consume)

    # Sample the ledger while the workers run: at no moment more live touches than the capacity.
    peaks: Counter[str] = Counter()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with env.harness.engine.connect() as conn:
                for channel, count in _live(conn).items():
                    peaks[channel] = max(peaks[channel], count)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tag = uuid.uuid4().hex[:6]
    requests = [request_message(f"{tag}-{channel}-{i}", f"c{i:04d}", channel, priority=i % 5,
                                campaign_id=f"camp{i % 3}") for i in range(CONTACTS) for channel in ("call", "sms")]
    env.publish(m for index, message in enumerate(requests) for m in _twice(index, message))

    def settled() -> bool:
        with env.harness.engine.connect() as conn:
            decided = conn.execute(text("SELECT count(*) FROM decisions")).scalar_one()
            open_jobs = conn.execute(text(
                "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')")).scalar_one()
        return decided == len(requests) and open_jobs == 0

    try:
        wait_for(settled, timeout=180, interval=0.25, message="every request decided once and delivered")
    finally:
        done.set()
        sampler.join(5)

    with env.harness.engine.connect() as conn:
        outcomes = Counter(tuple(row) for row in conn.execute(text(
            "SELECT channel, outcome, coalesce(reason, '') FROM decisions")))
        twice = conn.execute(text("SELECT count(*) FROM (SELECT request_id FROM decisions GROUP BY request_id "
                                  "HAVING count(*) > 1) d")).scalar_one()
        live = _live(conn)
        counters = dict(conn.execute(text("SELECT rule_id, used FROM capacity_counters")).all())
        claims = dict(conn.execute(text("SELECT rule_id, count(*) FROM capacity_claims GROUP BY rule_id")).all())
        failed = conn.execute(text("SELECT count(*) FROM touches WHERE channel = 'sms' AND state = 'failed'")
                              ).scalar_one()
        windows = conn.execute(text("SELECT count(DISTINCT (rule_id, window_start)) FROM capacity_counters")
                               ).scalar_one()
        deferred = conn.execute(text(
            "SELECT rule_id, min(defer_until) FROM decisions WHERE outcome = 'deferred' GROUP BY rule_id")).all()

    print(f"\nlive peaks {dict(peaks)}, outcomes {dict(outcomes)}, counters {counters}, sms failed {failed}")
    assert twice == 0  # every redelivery was recognised
    assert peaks["call"] <= CALLS and peaks["sms"] <= TEXTS
    # calls: nothing failed, so exactly the capacity was sent and everything else deferred for capacity
    assert live["call"] == CALLS == counters["calls-daily"] == claims["calls-daily"]
    assert outcomes[("call", "send", "send")] == CALLS
    assert outcomes[("call", "deferred", "capacity")] == CONTACTS - CALLS
    # sms: the refused sends gave their units back, and those units were used again
    assert failed == REFUSED
    assert live["sms"] == counters["sms-hourly"] == claims["sms-hourly"] <= TEXTS
    assert outcomes[("sms", "send", "send")] - REFUSED == live["sms"]
    assert outcomes[("sms", "send", "send")] + outcomes[("sms", "deferred", "capacity")] == CONTACTS
    assert windows == 2
    rules = {r["id"]: CapacityRule(r["id"], r["channel"], r["limit"], r["window"], r["time_zone"], r["when_full"],
                                   r["category"]) for r in CAPACITY}
    assert {rule_id: until for rule_id, until in deferred} == {
        rule_id: rule.next_window_start(now) for rule_id, rule in rules.items()}
