"""Operator keys can't lock the system out, and every key change lands in an append-only audit trail."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.auth.keys import MIGRATIONS_DIR, ApiKeyStore
from shared.config import Settings
from shared.db.engine import drop_database, make_engine
from shared.db.migrate import migrate
from shared.http import create_service_app
from tests.support import fresh_database, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def keys():
    """A key store on an auth database of its own: these tests revoke operator keys."""
    url = fresh_database("auth_safety", MIGRATIONS_DIR)
    store = ApiKeyStore(make_engine(url, pool_size=4), cache_seconds=0)
    yield store
    store.engine.dispose()
    drop_database(url)


@pytest.fixture
def client(keys, messaging_db_url, amqp_url):
    settings = Settings(service="keys", database_url=messaging_db_url, auth_database_url=str(keys.engine.url),
                        amqp_url=amqp_url)
    return create_service_app(settings, "Keys", [], keys=keys).test_client()


def _as(key_text: str) -> dict:
    return {"X-API-Key": key_text}


def test_the_last_operator_key_cannot_be_revoked(client, keys):
    root, root_text = keys.create("root", "operator")
    answer = client.delete(f"/api-keys/{root.key_id}", headers=_as(root_text))
    assert answer.status_code == 409 and answer.mimetype == "application/problem+json"
    body = answer.get_json()
    assert "last active operator key" in body["detail"] and "key_id" in body["errors"]
    assert keys.verify(root_text) is not None
    # with a second operator key, either may go (itself included); then the other is the last again
    second = client.post("/api-keys", json={"name": "second", "role": "operator"}, headers=_as(root_text)).get_json()
    assert client.delete(f"/api-keys/{root.key_id}", headers=_as(root_text)).status_code == 204
    assert client.delete(f"/api-keys/{second['key_id']}", headers=_as(second["key"])).status_code == 409
    # other roles are not protected: the last marketer key may be revoked
    marketer = client.post("/api-keys", json={"name": "m", "role": "marketer"}, headers=_as(second["key"])).get_json()
    assert client.delete(f"/api-keys/{marketer['key_id']}", headers=_as(second["key"])).status_code == 204


def test_two_concurrent_revokes_leave_one_operator_key(client, keys):
    a, a_text = keys.create("a", "operator")
    b, b_text = keys.create("b", "operator")
    answers: dict[str, int] = {}
    blocker = keys.engine.connect()
    transaction = blocker.begin()
    # hold the operator rows so both revokes have checked nothing yet when they race
    blocker.execute(text("SELECT 1 FROM api_keys WHERE role = 'operator' FOR UPDATE"))
    threads = [threading.Thread(target=lambda who=who, victim=victim, key=key: answers.__setitem__(
        who, client.delete(f"/api-keys/{victim}", headers=_as(key)).status_code))
        for who, victim, key in (("a", b.key_id, a_text), ("b", a.key_id, b_text))]
    for thread in threads:
        thread.start()
    with keys.engine.connect() as watcher:
        wait_for(lambda: watcher.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar() == 2, message="both revokes waiting on the operator rows")
    transaction.commit()
    blocker.close()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers.values()) == [204, 409]
    active = [k for k in keys.list() if k["role"] == "operator" and k["revoked_at"] is None]
    assert len(active) == 1


def test_every_change_is_audited_with_who_and_pages_newest_first(client, keys):
    root, root_text = keys.create("root", "operator")  # an admin command: no actor
    made = [client.post("/api-keys", json={"name": f"k{i}", "role": "agent"}, headers=_as(root_text)).get_json()
            for i in range(3)]
    assert client.delete(f"/api-keys/{made[0]['key_id']}", headers=_as(root_text)).status_code == 204
    assert client.delete(f"/api-keys/{root.key_id}", headers=_as(root_text)).status_code == 409  # refused: no entry
    pages, cursor = [], None
    while True:
        page = client.get("/api-keys/audit", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=_as(root_text)).get_json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    entries = [e for items in pages for e in items]
    assert [len(items) for items in pages] == [2, 2, 1]
    assert [(e["action"], e["details"]["after"]["name"]) for e in entries] == [
        ("api_key.revoke", "k0"), ("api_key.create", "k2"), ("api_key.create", "k1"), ("api_key.create", "k0"),
        ("api_key.create", "root")]
    assert [e["entity_id"] for e in entries[:2]] == [made[0]["key_id"], made[2]["key_id"]]
    assert {e["entity_type"] for e in entries} == {"api_key"}
    assert {tuple(e["actor"].values()) for e in entries[:4]} == {(root.key_id, "root", "operator")}
    assert entries[-1]["actor"] is None and entries[-1]["details"]["after"]["role"] == "operator"
    assert all(e["at"] for e in entries)
    # the same filters as every service's GET /audit
    revokes = client.get("/api-keys/audit", query_string={"action": "api_key.revoke", "actor": "root"},
                         headers=_as(root_text)).get_json()["items"]
    assert [e["entity_id"] for e in revokes] == [made[0]["key_id"]]


def test_the_audit_is_for_operators_and_validates_paging(client, keys):
    _, root_text = keys.create("root", "operator")
    _, agent_text = keys.create("agent", "agent")
    assert client.get("/api-keys/audit", headers=_as(agent_text)).status_code == 403
    for bad in ({"limit": 0}, {"limit": "x"}, {"cursor": "abc"}, {"cursor": "9" * 40}, {"since": "yesterday"},
                {"until": "2026-12-01T00:00:00"}, {"colour": "red"}):
        answer = client.get("/api-keys/audit", query_string=bad, headers=_as(root_text))
        status = 400 if "cursor" in bad else 422  # a foreign cursor is a 400 in every service (shared.http.cursor)
        assert answer.status_code == status and set(bad) <= set(answer.get_json()["errors"]), bad


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor_name = 'forged'",
                                       "DELETE FROM audit_log", "TRUNCATE audit_log"])
def test_the_database_refuses_to_rewrite_the_audit(keys, statement):
    keys.create("root", "operator")
    with pytest.raises(DBAPIError, match="append-only"), keys.engine.begin() as conn:
        conn.execute(text(statement))
    with keys.engine.connect() as conn:
        assert conn.execute(text("SELECT details->'after'->>'name' FROM audit_log")).scalars().all() == ["root"]


def test_the_old_key_audit_moves_into_the_one_trail_in_order():
    url = fresh_database("auth_fold")
    engine = make_engine(url, pool_size=1)
    try:
        migrate(MIGRATIONS_DIR, url, "0002")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO api_key_audit (at, action, key_id, key_name, key_role, actor_key_id, "
                              "actor_name, actor_role) VALUES "
                              "('2026-12-01T10:00:00Z', 'create', 'k1', 'root', 'operator', NULL, NULL, NULL), "
                              "('2026-12-01T11:00:00Z', 'create', 'k2', 'bob', 'agent', 'k1', 'root', 'operator'), "
                              "('2026-12-01T12:00:00Z', 'revoke', 'k2', 'bob', 'agent', 'k1', 'root', 'operator')"))
        migrate(MIGRATIONS_DIR, url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT action, entity_type, entity_id, actor_name, details FROM audit_log "
                                     "ORDER BY id")).all()
            old = conn.execute(text("SELECT to_regclass('api_key_audit')")).scalar()
        assert [tuple(r) for r in rows] == [
            ("api_key.create", "api_key", "k1", None, {"after": {"name": "root", "role": "operator"}}),
            ("api_key.create", "api_key", "k2", "root", {"after": {"name": "bob", "role": "agent"}}),
            ("api_key.revoke", "api_key", "k2", "root", {"after": {"name": "bob", "role": "agent"}})]
        assert old is None  # one audit mechanism: the old table is gone
    finally:
        engine.dispose()
        drop_database(url)
