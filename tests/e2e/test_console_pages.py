"""The console's other pages in a real browser (headless Debian Chromium), against the running system.

Beside tests/e2e/test_console.py (the three main journeys): a marketer reads a contact (profile,
consent, suppressions, timeline, the gate's decisions) and the segment counts; an operator edits the
policy in its form (a refusal shows channels' problem), dry-runs a message, creates and revokes an
API key, and reads the health page's rate charts. Every page visited passes the accessibility and
phone-width checks of tests/e2e/console_a11y.py. Same system and browser as test_console.py.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import E2E
from tests.e2e.console_a11y import check_page
from tests.e2e.console_browser import screenshot, sign_in, submit
from tests.support import wait_for

pytestmark = pytest.mark.slow


def _fill(browser, element_id: str, value: str) -> None:
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def test_marketer_reads_a_contact_and_why_each_message_went_or_not(e2e: E2E, console: str, browser) -> None:
    e2e.set_policy()
    cohort = uuid.uuid4().hex[:8]
    person = e2e.contact(attributes={"tier": "gold", "cohort": cohort})
    e2e.call("PUT", "contacts", f"/contacts/{person['id']}/consent/email", role="marketer",
             json={"status": "granted", "source": f"e2e form {cohort}"})
    e2e.call("POST", "contacts", f"/contacts/{person['id']}/suppressions", role="marketer",
             json={"scope": "channel", "value": "sms", "reason": "unsubscribed"})
    wait_for(lambda: e2e.call("POST", "channels", "/dry-run", json={
        "contact_id": person["id"], "channel": "sms", "category": "marketing"})["outcome"] == "suppressed",
        timeout=20, interval=0.2, message="the gate to know the sms suppression")
    campaign = e2e.campaign({"name": f"e2e console contact {cohort}", "category": "marketing",
                             "entry": {"type": "event", "event_type": f"console_{cohort}"},
                             "steps": [{"id": "mail", "type": "send", "channel": "email", "next": "text",
                                        "template": {"subject": "Hi", "body": "Hello {{ contact.first_name }}"}},
                                       {"id": "text", "type": "send", "channel": "sms",
                                        "template": {"body": "Hi {{ contact.first_name }}"}}]})
    e2e.event(person["id"], f"console_{cohort}", plan="gold")
    e2e.wait_decisions(2, contact_id=person["id"])

    sign_in(browser, console, e2e.system.keys["marketer"])
    submit(browser, browser.find_element(By.LINK_TEXT, "Contacts"))
    check_page(browser)  # the search page with the latest contacts
    _fill(browser, "q", person["email"])
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[role=search] button"))
    profile = browser.find_element(By.ID, "profile-h").find_element(By.XPATH, "..").text
    assert person["email"] in profile and person["external_id"] in profile and cohort in profile
    consent = browser.find_element(By.ID, "consent-h").find_element(By.XPATH, "..").text
    assert "email: granted" in consent and f"e2e form {cohort}" in consent
    assert re.search(r"channel sms: unsubscribed", consent), consent
    why = browser.find_element(By.ID, "why-h").find_element(By.XPATH, "..").text
    assert re.search(r"email .* send", why) and re.search(r"sms .* suppressed", why), why
    assert "unsubscribed" in why
    assert f"console_{cohort}" in browser.find_element(By.ID, "tl-h").find_element(By.XPATH, "..").text
    screenshot(browser, "contact")
    check_page(browser)
    e2e.call("POST", "campaigns", f"/campaigns/{campaign['id']}/archive", role="marketer")


def test_marketer_sees_each_segment_with_its_count(e2e: E2E, console: str, browser) -> None:
    cohort = uuid.uuid4().hex[:8]
    for _ in range(3):
        e2e.contact(attributes={"tier": "gold", "cohort": cohort})
    segment = e2e.call("POST", "contacts", "/segments", role="marketer", json={
        "name": f"e2e console segment {cohort}", "definition": f"contact.cohort == '{cohort}'"})
    sign_in(browser, console, e2e.system.keys["marketer"])
    submit(browser, browser.find_element(By.LINK_TEXT, "Segments"))
    row = browser.find_element(By.XPATH, f"//tr[td[contains(., '{segment['name']}')]]")
    assert row.find_element(By.CSS_SELECTOR, "td.n").text == "3", row.text
    check_page(browser)


def test_operator_edits_the_policy_in_its_form_and_dry_runs_a_message(e2e: E2E, console: str, browser) -> None:
    e2e.set_policy()  # nothing restricted: saving it unchanged is what channels refuses
    person = e2e.contact()
    wait_for(lambda: e2e.call("POST", "channels", "/dry-run", expect=(200, 404), json={
        "contact_id": person["id"], "channel": "sms", "category": "marketing"}).get("outcome") == "send",
        timeout=20, interval=0.2, message="channels to know the contact")
    cap = f"sms-{uuid.uuid4().hex[:6]}"
    sign_in(browser, console, e2e.system.keys["operator"])
    submit(browser, browser.find_element(By.LINK_TEXT, "Policy"))
    submit(browser, browser.find_element(By.ID, "save-policy"))
    problem = browser.find_element(By.ID, "policy-problem").text
    assert "Empty policy refused" in problem and "allow_empty" in problem, problem  # channels' own words
    check_page(browser)

    # a new cap in the first blank row: no sms at all (limit 0 per day), and quiet hours for email
    _fill(browser, "cap-0-id", cap)
    _fill(browser, "cap-0-limit", "lots")
    _fill(browser, "cap-0-window", "1")
    Select(browser.find_element(By.ID, "cap-0-unit")).select_by_visible_text("days")
    Select(browser.find_element(By.ID, "cap-0-scope")).select_by_visible_text("channel")
    _fill(browser, "cap-0-scope_value", "sms")
    submit(browser, browser.find_element(By.ID, "save-policy"))
    assert "a whole number" in browser.find_element(By.ID, "cap-0-limit-error").text  # the form's own check
    assert browser.find_element(By.ID, "cap-0-id").get_attribute("value") == cap  # nothing typed is lost
    _fill(browser, "cap-0-limit", "0")
    _fill(browser, "qh-0-channel", "email")
    _fill(browser, "qh-0-start", "08:00")
    _fill(browser, "qh-0-end", "21:00")
    for day in range(7):
        browser.find_element(By.ID, f"qh-0-day-{day}").click()
    _fill(browser, "cp-0-id", f"web-{cap}")  # a capacity no other test comes near
    _fill(browser, "cp-0-channel", "web")
    _fill(browser, "cp-0-limit", "100000")
    _fill(browser, "cp-0-time_zone", "Europe/London")
    submit(browser, browser.find_element(By.ID, "save-policy"))
    assert "Policy saved" in browser.page_source
    stored = e2e.call("GET", "channels", "/policy")
    assert {"id": cap, "limit": 0, "window_seconds": 86400, "scope": "channel", "scope_value": "sms"} in stored["caps"]
    assert {"id": f"web-{cap}", "channel": "web", "category": None, "limit": 100000, "window": "day",
            "time_zone": "Europe/London", "when_full": "defer"} in stored["capacity"]
    assert stored["quiet_hours"]["email"] == [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "21:00"}]
    assert browser.find_element(By.ID, "cap-0-id").get_attribute("value") == cap  # the form shows what is stored

    _fill(browser, "d-contact", person["id"])
    _fill(browser, "d-channel", "sms")
    Select(browser.find_element(By.ID, "d-category")).select_by_visible_text("marketing")
    submit(browser, browser.find_element(By.ID, "dry-run"))
    answer = browser.find_element(By.ID, "dry-result").text
    assert "cap" in answer and cap in answer, answer
    screenshot(browser, "policy")
    check_page(browser)
    e2e.set_policy()


def test_operator_creates_and_revokes_an_api_key(e2e: E2E, console: str, browser) -> None:
    name = f"e2e console key {uuid.uuid4().hex[:6]}"
    sign_in(browser, console, e2e.system.keys["operator"])
    submit(browser, browser.find_element(By.LINK_TEXT, "API keys"))
    _fill(browser, "k-name", name)
    Select(browser.find_element(By.ID, "k-role")).select_by_visible_text("agent")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[aria-label='Create a key'] button"))
    key = browser.find_element(By.ID, "new-key").text.strip()

    def me(status: int) -> bool:
        answer = requests.get(e2e.system.url("contacts", "/api-keys/me"), headers={"X-API-Key": key}, timeout=10)
        return answer.status_code == status

    assert me(200)
    check_page(browser)
    browser.get(console + "/operator/keys")  # the key is shown once: not after a reload
    assert key not in browser.page_source and name in browser.page_source
    submit(browser, browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Revoke {name}']"))
    assert "revoked" in browser.page_source
    row = browser.find_element(By.XPATH, f"//tr[td[normalize-space()='{name}']]")
    assert "revoked" in row.text
    wait_for(lambda: me(401), timeout=30, interval=0.5, message="the services to refuse the revoked key")


def test_operator_reads_health_and_rates(e2e: E2E, console: str, browser) -> None:
    sign_in(browser, console, e2e.system.keys["operator"])
    submit(browser, browser.find_element(By.LINK_TEXT, "Health"))
    browser.refresh()  # a second reading of every API process: rates between two readings
    cards = browser.find_elements(By.CSS_SELECTOR, "article.health")
    assert len(cards) == 4 and all("healthy" in card.text for card in cards), [c.text for c in cards]
    for service in ("contacts", "campaigns", "channels", "scheduler"):
        section = browser.find_element(By.ID, f"m-{service}").find_element(By.XPATH, "..")
        latest = re.search(r"latest: ([0-9.]+) requests/s", section.text)
        assert latest and float(latest.group(1)) > 0, section.text
        charts = section.find_elements(By.CSS_SELECTOR, "svg.line-chart")
        assert len(charts) == 2 and "requests per second" in charts[0].get_attribute("aria-label")
        assert section.find_elements(By.CSS_SELECTOR, "svg.line-chart path.line")
    screenshot(browser, "operator")
    check_page(browser)


def test_sign_in_bad_input_and_a_revoked_session_get_friendly_accessible_pages(e2e: E2E, console: str,
                                                                               browser) -> None:
    browser.delete_all_cookies()
    browser.get(console + "/sign-in")
    _fill(browser, "api_key", "tp_not_a_key")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert "not valid or has been revoked" in browser.find_element(By.ID, "sign-in-error").text
    check_page(browser)

    created = e2e.call("POST", "contacts", "/api-keys", json={"name": f"e2e console agent {uuid.uuid4().hex[:6]}",
                                                              "role": "agent"})
    sign_in(browser, console, created["key"])
    browser.get(console + "/agent/tasks?contact_id=a%01b")  # a control character: the guard's 422, as a page
    assert "contact_id" in browser.page_source and "control character" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "section.problem h1")
    check_page(browser)
    browser.get(console + "/contacts/no-such-contact")  # the service's problem, as a page
    assert "contacts service answered 404" in browser.page_source
    check_page(browser)

    e2e.call("DELETE", "contacts", f"/api-keys/{created['key_id']}", expect=204)
    wait_for(lambda: requests.get(e2e.system.url("channels", "/tasks"), headers={"X-API-Key": created["key"]},
                                  timeout=10).status_code == 401,
             timeout=30, interval=0.5, message="channels to refuse the revoked key")
    browser.get(console + "/agent/tasks")
    assert "Your session has ended" in browser.page_source and "no longer accept" in browser.page_source
    assert "Traceback" not in browser.page_source
    check_page(browser)


def test_marketer_compares_ab_variants_side_by_side(e2e: E2E, console: str, browser) -> None:
    e2e.set_policy()
    cohort = uuid.uuid4().hex[:8]
    people = [e2e.contact(attributes={"tier": "gold", "cohort": cohort}) for _ in range(4)]
    mail = {"type": "send", "channel": "email", "template": {"subject": "Hi", "body": "{{ contact.first_name }}"}}
    campaign = e2e.campaign({"name": f"e2e console ab {cohort}", "category": "marketing",
                             "entry": {"type": "event", "event_type": f"ab_{cohort}"},
                             "steps": [{"id": "split", "type": "split",
                                        "variants": [{"name": "A", "weight": 1, "next": "mail_a"},
                                                     {"name": "B", "weight": 1, "next": "mail_b"}]},
                                       {"id": "mail_a", **mail}, {"id": "mail_b", **mail}]})
    for person in people:
        e2e.event(person["id"], f"ab_{cohort}")

    def enrolled() -> int:
        report = e2e.call("GET", "campaigns", f"/campaigns/{campaign['id']}/report", role="marketer")
        return sum(v.get("enrolled", 0) for v in report.get("variants", {}).values())

    wait_for(lambda: enrolled() == len(people), timeout=30, interval=0.3, message="every contact in a variant")
    sign_in(browser, console, e2e.system.keys["marketer"])
    browser.get(f"{console}/campaigns/{campaign['id']}")
    cards = browser.find_elements(By.CSS_SELECTOR, "article.variant")
    assert [card.find_element(By.TAG_NAME, "h3").text.split()[0] for card in cards] == ["A", "B"]
    counts = [int(re.search(r"Enrolled\s+(\d+)", card.text).group(1)) for card in cards]
    assert sum(counts) == len(people), counts
    graph = browser.find_element(By.CSS_SELECTOR, "svg.journey").get_attribute("innerHTML")
    assert "A · 1" in graph and "B · 1" in graph  # the split's arms are labelled
    check_page(browser)
    e2e.call("POST", "campaigns", f"/campaigns/{campaign['id']}/archive", role="marketer")
