"""A segment broadcast streamed over HTTP from a stand-in of the contacts members endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from services.campaigns.repository import enrollments
from tests.integration.campaigns.conftest import Tap, activate, start_harness
from tests.support import wait_for

pytestmark = pytest.mark.integration

API_KEY = "segment-reader-key"
MEMBERS = [{"contact_id": f"b{i:04d}", "external_id": None, "email": f"b{i}@example.com", "phone": None,
            "first_name": f"Name{i}", "last_name": "X", "locale": "nl", "time_zone": "Europe/Amsterdam",
            "attributes": {"tier": "gold" if i % 2 else "silver"}} for i in range(2500)]


class MembersEndpoint(BaseHTTPRequestHandler):
    """GET /segments/{id}/members?after=&limit= exactly as the contacts service documents it."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if self.headers.get("X-API-Key") != API_KEY:
            return self._answer(401, {"title": "Unauthorized"})
        if len(parts) != 3 or parts[0] != "segments" or parts[2] != "members" or parts[1] != "seg-gold":
            return self._answer(404, {"title": "Not Found"})
        query = parse_qs(url.query)
        after = query.get("after", [""])[0]
        limit = int(query.get("limit", ["1000"])[0])
        MembersEndpoint.requests.append(self.path)
        rest = [m for m in MEMBERS if m["contact_id"] > after]
        page = rest[:limit]
        return self._answer(200, {"items": page, "next_after": page[-1]["contact_id"] if len(rest) > limit else None})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def members_url() -> Iterator[str]:
    """A loopback HTTP server answering the members endpoint."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), MembersEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def broadcaster(broker_namespace, auth_database_url, api_keys, members_url):
    """The campaigns service reading segments from the loopback server."""
    harness = start_harness(broker_namespace, auth_database_url, api_keys, "campaigns_broadcast",
                            contacts_url=members_url, contacts_api_key=API_KEY)
    yield harness
    harness.close()


NEWSLETTER = {
    "name": "Monthly newsletter", "category": "marketing",
    "entry": {"type": "segment", "segment_id": "seg-gold",
              "schedule": {"cron": "0 9 1 * *", "timezone": "Europe/Amsterdam"}},
    "steps": [{"id": "split", "type": "split", "variants": [{"name": "A", "weight": 1, "next": "mail_a"},
                                                            {"name": "B", "weight": 1, "next": "mail_b"}]},
              {"id": "mail_a", "type": "send", "channel": "email",
               "template": {"subject": "News for {{ contact.first_name }}", "body": "A: {{ contact.tier }}"}},
              {"id": "mail_b", "type": "send", "channel": "email",
               "template": {"subject": "Your news, {{ contact.first_name }}", "body": "B: {{ contact.tier }}"}}],
    "reentry": {"policy": "always"},
}


def _enrolled(harness, campaign_id: str) -> int:
    with harness.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(enrollments)
                            .where(enrollments.c.campaign_id == campaign_id)).scalar()


def test_broadcast_streams_the_segment_in_pages_and_requests_once_per_member(broadcaster, broker_namespace, driver):
    tap = Tap(broker_namespace, ("message.requested", "schedule.recurring.#"))
    try:
        campaign_id = activate(broadcaster, NEWSLETTER)
        [schedule] = tap.wait("schedule.recurring.upserted", schedule_id=f"campaign:{campaign_id}")
        assert schedule["cron"] == "0 9 1 * *" and schedule["timezone"] == "Europe/Amsterdam"
        fire = {"schedule_id": schedule["schedule_id"], "fire_time": datetime(2026, 12, 1, 8, tzinfo=UTC).isoformat(),
                **schedule["payload"]}
        driver.publish("broadcast.due", fire)
        driver.publish("broadcast.due", fire)  # the scheduler told us twice: one run
        requests = tap.wait("message.requested", len(MEMBERS), timeout=60, campaign_id=campaign_id)
        assert _enrolled(broadcaster, campaign_id) == len(MEMBERS)
        assert len({r["request_id"] for r in requests}) == len(MEMBERS)
        first = next(r for r in requests if r["contact_id"] == "b0001")
        assert first["content"]["body"] in ("A: gold", "B: gold")
        assert first["recipient"]["email"] == "b1@example.com"
        assert first["occurrence"] == "20261201T080000Z"
        assert len(MembersEndpoint.requests) == 3  # 2,500 members in pages of 1,000
        report = broadcaster.get(f"/campaigns/{campaign_id}/report", role="marketer").get_json()
        assert report["enrollments"]["completed"] == len(MEMBERS)
        assert report["variants"]["A"]["enrolled"] + report["variants"]["B"]["enrolled"] == len(MEMBERS)
        assert 0.4 < report["variants"]["A"]["enrolled"] / len(MEMBERS) < 0.6
        assert report["broadcasts"][0]["pages"] == 3 and report["broadcasts"][0]["finished_at"]
        # the next month's run is a new occurrence: everyone again, with new request ids
        driver.publish("broadcast.due", {**fire, "fire_time": datetime(2027, 1, 1, 8, tzinfo=UTC).isoformat()})
        wait_for(lambda: _enrolled(broadcaster, campaign_id) == 2 * len(MEMBERS), timeout=60,
                 message="the second run")
        tap.wait("message.requested", 2 * len(MEMBERS), timeout=60, campaign_id=campaign_id)
        time.sleep(0.3)
        assert len(tap.of("message.requested", campaign_id=campaign_id)) == 2 * len(MEMBERS)
    finally:
        tap.close()
