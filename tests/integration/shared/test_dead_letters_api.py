"""The shared HTTP edge's dead-letter endpoints (operators) and `GET /api-keys/me`, on the real broker."""

from __future__ import annotations

import json

import pika
import pytest

from shared.config import Settings
from shared.http import create_service_app
from shared.messaging import QueueSpec

pytestmark = pytest.mark.integration

SPECS = [QueueSpec("things.work", ("thing.happened",)), QueueSpec("things.sharded", ("thing.sharded",), shards=2)]


@pytest.fixture
def client(messaging_db_url, auth_database_url, amqp_url, key_store, topology):
    settings = Settings(service="things", database_url=messaging_db_url, auth_database_url=auth_database_url,
                        amqp_url=amqp_url, namespace=topology.namespace)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        topology.declare(channel, SPECS[0])  # the sharded one stays undeclared: a worker never ran
        dead = topology.dead_queue_name(topology.queue_name(SPECS[0]))
        for index in range(3):
            channel.basic_publish("", dead, json.dumps({"n": index}).encode(), pika.BasicProperties(
                message_id=f"m{index}", type="thing.happened", delivery_mode=2,
                headers={"x-error": f"KeyError: 'n{index}'", "x-attempts": 5}))
    finally:
        connection.close()
    app = create_service_app(settings, "Things", [], keys=key_store, queues=lambda: SPECS)
    return app.test_client()


def test_operators_list_read_and_replay_dead_letters(client, api_keys, topology):
    operator = {"X-API-Key": api_keys["operator"]}
    work = topology.queue_name(SPECS[0])
    listed = {q["queue"]: q for q in client.get("/dead-letters", headers=operator).get_json()}
    assert listed[f"{work}.dead"]["messages"] == 3 and listed[f"{work}.dead"]["work_queue"] == work
    assert listed[f"{topology.namespace}.things.sharded.1.dead"]["messages"] is None
    peeked = client.get(f"/dead-letters/{work}.dead", query_string={"limit": 2}, headers=operator).get_json()
    assert [(d["message_id"], d["error"], d["body"]) for d in peeked] == [
        ("m0", "KeyError: 'n0'", {"n": 0}), ("m1", "KeyError: 'n1'", {"n": 1})]
    replayed = client.post(f"/dead-letters/{work}.dead/replay", json={"limit": 1}, headers=operator).get_json()
    assert replayed["replayed"] == 1
    left = {q["queue"]: q["messages"] for q in client.get("/dead-letters", headers=operator).get_json()}
    assert left[f"{work}.dead"] == 2
    assert client.post(f"/dead-letters/{work}.dead/replay", json={}, headers=operator).get_json()["replayed"] == 2


def test_dead_letters_are_for_operators_and_for_this_services_queues_only(client, api_keys, topology):
    work = topology.queue_name(SPECS[0])
    assert client.get("/dead-letters", headers={"X-API-Key": api_keys["marketer"]}).status_code == 403
    assert client.post(f"/dead-letters/{work}.dead/replay", json={},
                       headers={"X-API-Key": api_keys["agent"]}).status_code == 403
    other = client.post("/dead-letters/somebody.else.dead/replay", json={}, headers={"X-API-Key": api_keys["operator"]})
    assert other.status_code == 404 and other.mimetype == "application/problem+json"
    bad = client.post(f"/dead-letters/{work}.dead/replay", json={"limit": "all"},
                      headers={"X-API-Key": api_keys["operator"]})
    assert bad.status_code == 422 and "limit" in bad.get_json()["errors"]


@pytest.mark.parametrize("role", ["marketer", "channel_owner", "agent", "operator", "ingest"])
def test_every_key_can_ask_who_it_is(client, api_keys, role):
    me = client.get("/api-keys/me", headers={"X-API-Key": api_keys[role]}).get_json()
    assert me["role"] == role and me["name"] == f"test-{role}" and "key" not in me
    assert client.get("/api-keys/me").status_code == 401
