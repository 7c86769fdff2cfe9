"""The audit trail of a service database: recorded in the change's transaction, read through GET /audit
(operators, filters, keyset paging), and append-only for the service's own database user except the
erasure's guarded redaction. Campaigns serves as the example service; every service shares the mechanism."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.campaigns.service import DEFINITION
from services.campaigns.unit_of_work import CampaignsUnitOfWorkFactory
from shared.audit.details import ERASED
from shared.clock import system_clock
from tests.support import ServiceHarness

pytestmark = pytest.mark.integration

TEMPLATE = {"name": "offer", "channel": "email", "subject": "Hi {{ contact.first_name }}", "body": "An offer"}


@pytest.fixture(scope="module")
def service(broker_namespace, auth_database_url, api_keys):
    harness = ServiceHarness(DEFINITION, broker_namespace, auth_database_url, api_keys, database_name="audit")
    yield harness
    harness.close()


def _trail(service, **query):
    answer = service.get("/audit", query_string=query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _count(service) -> int:
    with service.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()


def test_changes_are_recorded_with_who_what_when_and_a_small_before_after(service):
    created = service.post("/templates", json=TEMPLATE, role="marketer").get_json()
    template_id = created["template_id"]
    assert service.put(f"/templates/{template_id}", json={**TEMPLATE, "body": "A better offer"},
                       role="marketer").status_code == 200
    assert service.delete(f"/templates/{template_id}", role="marketer").status_code == 204
    entries = _trail(service, entity_type="template", entity_id=template_id)["items"]
    assert [e["action"] for e in entries] == ["template.delete", "template.update", "template.create"]
    assert {(e["actor"]["name"], e["actor"]["role"]) for e in entries} == {("test-marketer", "marketer")}
    update = entries[1]
    assert update["details"]["before"]["body"] == "An offer" and update["details"]["after"]["body"] == "A better offer"
    assert "name" not in update["details"]["before"]  # only what changed
    assert entries[0]["details"]["before"]["name"] == "offer" and "after" not in entries[0]["details"]
    assert entries[2]["at"] <= entries[1]["at"] <= entries[0]["at"]


def test_a_refused_or_rolled_back_change_leaves_no_record(service):
    before = _count(service)
    assert service.put("/templates/no-such-template", json=TEMPLATE, role="marketer").status_code == 404
    assert service.post("/templates", json={**TEMPLATE, "body": "{{ secret }}"}, role="marketer").status_code == 422
    with pytest.raises(RuntimeError), CampaignsUnitOfWorkFactory(service.engine)() as uow:
        uow.audit.record("template.create", "template", "t-rolled-back", at=system_clock.now())
        raise RuntimeError("the change fails after its record was written")
    assert _count(service) == before
    with CampaignsUnitOfWorkFactory(service.engine)() as uow:
        uow.audit.record("template.create", "template", "t-committed", at=system_clock.now())
    assert _count(service) == before + 1


def test_filters_and_keyset_paging(service):
    ids = [service.post("/templates", json={**TEMPLATE, "name": f"t{i}"}, role="marketer").get_json()["template_id"]
           for i in range(5)]
    pages, cursor = [], None
    while True:
        page = _trail(service, action="template.create", limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append([e["entity_id"] for e in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    listed = [i for page in pages for i in page]
    assert listed[:5] == ids[::-1] and all(len(page) <= 2 for page in pages)
    newest = _trail(service, limit=1)["items"][0]
    at = newest["at"]
    assert [e["id"] for e in _trail(service, since=at)["items"]] == [newest["id"]]
    assert newest["id"] not in [e["id"] for e in _trail(service, until=at)["items"]]
    assert _trail(service, actor="test-marketer", limit=1)["items"][0]["id"] == newest["id"]
    assert _trail(service, actor="nobody")["items"] == []
    assert _trail(service, entity_type="campaign", entity_id=ids[0])["items"] == []


def test_only_operators_read_it_and_bad_filters_are_4xx_naming_the_field(service):
    assert service.get("/audit", role=None).status_code == 401
    assert service.get("/audit", role="marketer").status_code == 403
    for bad, status in (({"limit": 0}, 422), ({"since": "yesterday"}, 422), ({"until": "2026-12-01T00:00:00"}, 422),
                        ({"action": ""}, 422), ({"entity_id": "x" * 129}, 422), ({"colour": "red"}, 422),
                        ({"cursor": "abc"}, 400)):
        answer = service.get("/audit", query_string=bad)
        assert answer.status_code == status and set(bad) <= set(answer.get_json()["errors"]), bad
    answer = service.get("/audit", query_string={"since": "2026-12-02T10:00:00Z", "until": "2026-12-02T09:00:00Z"})
    assert answer.status_code == 422 and "until" in answer.get_json()["errors"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor_name = 'forged'",
    "UPDATE audit_log SET details = NULL",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
])
def test_the_database_refuses_to_rewrite_the_trail(service, statement):
    service.post("/templates", json=TEMPLATE, role="marketer")
    before = _count(service)
    with pytest.raises(DBAPIError, match="append-only"), service.engine.begin() as conn:
        conn.execute(text(statement))
    assert _count(service) == before


def test_the_redaction_allowance_changes_details_only_and_only_where_it_is_switched_on(service):
    with CampaignsUnitOfWorkFactory(service.engine)() as uow:
        record = uow.audit.record("contact.update", "contact", "c-1", at=system_clock.now(), subject_id="c-1",
                                  before={"email": "a@example.com", "locale": "en"}, after={"email": "b@example.com"})
    # switched on, but re-attributing the record is still refused
    with pytest.raises(DBAPIError, match="append-only"), service.engine.begin() as conn:
        conn.execute(text("SELECT set_config('touchpoint.audit_redaction', 'on', true)"))
        conn.execute(text("UPDATE audit_log SET actor_name = 'forged', redacted_at = now() WHERE id = :id"),
                     {"id": record})
    # the setting is transaction-local: a later transaction is refused again
    with pytest.raises(DBAPIError, match="append-only"), service.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET details = NULL, redacted_at = now() WHERE id = :id"), {"id": record})
    with CampaignsUnitOfWorkFactory(service.engine)() as uow:
        assert uow.audit.redact_subject("c-1", {"email"}, system_clock.now() + timedelta(seconds=1)) == 1
        # and switched off again for the rest of the erasing transaction
        with pytest.raises(DBAPIError, match="append-only"), uow.outbox.conn.begin_nested():
            uow.outbox.conn.execute(text("UPDATE audit_log SET details = NULL, redacted_at = now() WHERE id = :id"),
                             {"id": record})
    [entry] = _trail(service, entity_type="contact", entity_id="c-1")["items"]
    assert entry["details"] == {"before": {"email": ERASED, "locale": "en"}, "after": {"email": ERASED}}
    assert entry["redacted_at"] is not None and entry["action"] == "contact.update"


def test_a_campaign_s_definition_approval_and_lifecycle_are_on_record(service):
    definition = {"name": "Welcome", "category": "marketing", "entry": {"type": "event", "event_type": "signup"},
                  "steps": [{"id": "hello", "type": "send", "channel": "email",
                             "template": {"subject": "Hi", "body": "Hi"}}], "requires_approval": True}
    campaign_id = service.post("/campaigns", json=definition, role="marketer").get_json()["campaign_id"]
    assert service.put(f"/campaigns/{campaign_id}", json={**definition, "name": "Welcome!"},
                       role="marketer").status_code == 200
    assert service.post(f"/campaigns/{campaign_id}/activate", role="marketer").status_code == 409  # not approved
    assert service.post(f"/campaigns/{campaign_id}/approval", json={}, role="operator").status_code == 200
    assert service.post(f"/campaigns/{campaign_id}/activate", role="marketer").status_code == 200
    assert service.post(f"/campaigns/{campaign_id}/pause", role="marketer").status_code == 200
    entries = _trail(service, entity_type="campaign", entity_id=campaign_id)["items"][::-1]
    assert [(e["action"], e["actor"]["role"]) for e in entries] == [
        ("campaign.create", "marketer"), ("campaign.update", "marketer"), ("campaign.approve", "operator"),
        ("campaign.activate", "marketer"), ("campaign.pause", "marketer")]
    assert entries[1]["details"]["before"]["name"] == "Welcome" and entries[1]["details"]["after"]["name"] == "Welcome!"
    assert (entries[4]["details"]["before"]["status"], entries[4]["details"]["after"]["status"]) == ("active", "paused")
