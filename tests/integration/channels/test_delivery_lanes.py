"""Delivery keeps many sends in flight per channel, bounded by max_in_flight, and a stuck provider holds up
only its own channel: the real worker, broker and database, an SMS gateway that answers only when told."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.channels.repository import deliveries
from tests.integration.channels.conftest import request_message
from tests.support import SmsGateway, wait_for

pytestmark = pytest.mark.integration

OPEN = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
        "control_group": None, "capacity": []}


@pytest.fixture
def held_gateway():
    """An SMS gateway that holds every request until `release()`."""
    gateway = SmsGateway()
    gateway.hold()
    yield gateway
    gateway.close()


def _states(env, channel: str) -> dict[str, int]:
    with env.harness.engine.connect() as conn:
        return dict(conn.execute(select(deliveries.c.state, func.count()).where(deliveries.c.channel == channel)
                                 .group_by(deliveries.c.state)).all())


def test_sends_overlap_up_to_max_in_flight_and_a_stuck_provider_holds_up_only_its_channel(
        channels_env, smtp_server, held_gateway):
    env = channels_env(adapters={
        "sms": {"adapter": "sms_gateway", "url": held_gateway.url, "max_in_flight": 3, "timeout": 60},
        "email": {"adapter": "smtp", "port": smtp_server.port, "max_in_flight": 4}}, policy=OPEN)
    env.publish([request_message(f"s{n}", f"sms-{n}", "sms", content={"text": "hi"}) for n in range(7)]
                + [request_message(f"e{n}", f"mail-{n}", "email") for n in range(12)])

    # Three SMS are at the gateway at once, none answered: the lane did not wait for one before the next.
    wait_for(lambda: held_gateway.holding == 3, message="three SMS in flight at once")
    # Meanwhile every email goes out: the SMS provider holds only the SMS lane's threads.
    wait_for(lambda: len(smtp_server.envelopes) == 12, message="all emails while the SMS gateway holds on")
    wait_for(lambda: _states(env, "email") == {"sent": 12}, message="the emails recorded as sent")
    assert held_gateway.holding == 3 and held_gateway.answered == []

    held_gateway.release()
    wait_for(lambda: _states(env, "sms") == {"sent": 7}, message="every SMS sent once released")
    assert sorted(body["reference"] for body in held_gateway.answered) == sorted(f"s{n}" for n in range(7))  # each exactly once
    assert held_gateway.peak == 3  # never more than max_in_flight at once
    ids = [e.original_content.decode().split("Message-ID: ")[1].split()[0] for e in smtp_server.envelopes]
    assert len(set(ids)) == 12
    expected = sorted([f"s{n}" for n in range(7)] + [f"e{n}" for n in range(12)])

    def sent() -> list[str]:
        return sorted(m.payload["request_id"] for m in env.outcomes() if m.type == "message.sent")

    wait_for(lambda: sent() == expected, message="one message.sent per request")
