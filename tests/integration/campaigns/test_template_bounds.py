"""Templates through the API and the worker: unsafe ones refused at save, runaway ones fail one message."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.campaigns.repository import step_sends
from tests.integration.campaigns.conftest import activate
from tests.support import wait_for

pytestmark = pytest.mark.integration

# Valid and harmless for a small contact.n, runaway for a large one: only a render-time bound can stop it.
NESTED = "{% for i in range(contact.n) %}{% for j in range(contact.n) %}{% endfor %}{% endfor %}done"
HUGE = "{{ ('x' * 10000) * 10000 }}"
TEMPLATE = {"name": "bounded", "channel": "email", "subject": "Hi", "body": "Hello {{ contact.first_name }}"}


def _cid() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(("part", "source"), [("body", "{{ ''.__class__.__mro__ }}"),
                                              ("html", "{{ contact|attr('__class__') }}"),
                                              ("subject", "{% include 'other' %}")])
def test_unsafe_templates_are_refused_at_save_naming_the_part(campaigns, part, source):
    answer = campaigns.post("/templates", json={**TEMPLATE, part: source}, role="marketer")
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert "not allowed" in answer.get_json()["errors"][part][0]
    saved = campaigns.post("/templates", json=TEMPLATE, role="marketer").get_json()
    replaced = campaigns.put(f"/templates/{saved['template_id']}", json={**TEMPLATE, part: source}, role="marketer")
    assert replaced.status_code == 422 and part in replaced.get_json()["errors"]


def test_unsafe_inline_templates_are_refused_at_save_naming_the_step(campaigns):
    definition = {"name": "unsafe", "category": "marketing", "entry": {"type": "event", "event_type": "x"},
                  "steps": [{"id": "s", "type": "send", "channel": "email",
                             "template": {"body": "{{ contact.__init__.__globals__ }}"}}]}
    answer = campaigns.post("/campaigns", json=definition, role="marketer")
    assert answer.status_code == 422
    assert "not allowed" in str(answer.get_json()["errors"]["steps[0].template"])


@pytest.mark.parametrize("body", [NESTED, HUGE, "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}"])
def test_previews_of_runaway_templates_answer_422_with_the_bound(campaigns, body):
    saved = campaigns.post("/templates", json={**TEMPLATE, "body": body}, role="marketer")
    assert saved.status_code == 201, saved.get_json()
    sample = {"contact": {"first_name": "Jo", "attributes": {"n": 10_000}}}
    answer = campaigns.post(f"/templates/{saved.get_json()['template_id']}/preview", json=sample, role="marketer")
    assert answer.status_code == 422 and "exceeds a bound" in answer.get_json()["errors"]["template"][0]
    small = {"contact": {"first_name": "Jo", "attributes": {"n": 3}}}
    if body == NESTED:
        done = campaigns.post(f"/templates/{saved.get_json()['template_id']}/preview", json=small, role="marketer")
        assert done.status_code == 200 and done.get_json()["body"] == "done"


def test_a_runaway_render_in_the_worker_fails_that_message_only(campaigns, tap, driver):
    campaign_id = activate(campaigns, {
        "name": "bounded sends", "category": "marketing", "entry": {"type": "event", "event_type": "signed_up"},
        "steps": [{"id": "hello", "type": "send", "channel": "email", "template": {"body": NESTED}}]})
    heavy, light = _cid(), _cid()
    driver.contact(heavy, n=10_000)
    driver.contact(light, n=2)
    driver.event(heavy, "signed_up")
    driver.event(light, "signed_up")
    [request] = tap.wait("message.requested", contact_id=light)  # the consumer went on after the heavy one
    assert request["content"]["body"] == "done"

    def recorded():
        with campaigns.engine.connect() as conn:
            return conn.execute(select(step_sends.c.status, step_sends.c.reason)
                                .where(step_sends.c.contact_id == heavy)).first()

    status, reason = wait_for(recorded, message="the heavy contact's send recorded")
    assert status == "failed" and reason.startswith("template: body: exceeds a bound: more than 100,000 steps")
    assert not tap.of("message.requested", contact_id=heavy)
    report = campaigns.get(f"/campaigns/{campaign_id}/report", role="marketer").get_json()
    assert report["steps"]["hello"]["failed"] == 1
