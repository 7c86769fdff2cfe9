"""The web console in a real browser (headless Debian Chromium), against the whole running system.

Three people use it as they would: a marketer opens the demo drip and sees its journey with non-zero
funnel counts; an agent claims and completes the call task a large withdrawal created; an operator
replays a dead letter. Set CONSOLE_SCREENSHOTS=docs/console to refresh the README's screenshots.
"""

from __future__ import annotations

import json
import re
import uuid

import pika
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import E2E
from tests.e2e.console_a11y import check_page
from tests.e2e.console_browser import screenshot, sign_in, submit
from tests.support import wait_for
from tools.demo import WITHDRAWAL_POLICY, drip

pytestmark = pytest.mark.slow


def test_marketer_sees_the_demo_drip_as_a_graph_with_its_funnel(e2e: E2E, console: str, browser) -> None:
    e2e.set_policy()
    cohort = uuid.uuid4().hex[:8]
    people = [e2e.contact(tier=tier, attributes={"tier": tier, "cohort": cohort}) for tier in ("platinum", "gold")]
    segment = e2e.call("POST", "contacts", "/segments", role="marketer", json={
        "name": f"e2e console {cohort}", "definition": f"contact.cohort == '{cohort}'"})
    definition = {**drip(segment["id"]), "name": f"Demo: welcome drip {cohort}"}
    campaign = e2e.campaign(definition)
    wait_for(lambda: e2e.sessions["operator"].post(e2e.system.url(
        "scheduler", f"/schedules/campaign:{campaign['id']}/trigger"), timeout=15).status_code in (200, 201, 202),
        timeout=30, interval=0.3, message="the drip's broadcast schedule to be triggerable")

    def sent() -> int:
        report = e2e.call("GET", "campaigns", f"/campaigns/{campaign['id']}/report", role="marketer")
        return report["steps"].get("welcome", {}).get("sent", 0)

    wait_for(lambda: sent() >= len(people), timeout=60, interval=0.5, message="the welcome emails to be sent")

    sign_in(browser, console, e2e.system.keys["marketer"])
    submit(browser, browser.find_element(By.LINK_TEXT, "Campaigns"))
    check_page(browser)  # the campaigns list
    submit(browser, browser.find_element(By.LINK_TEXT, definition["name"]))
    graph = browser.find_element(By.CSS_SELECTOR, "svg.journey")
    for step in ("welcome", "pause", "route", "sms_platinum", "sms_regular"):
        assert graph.find_elements(By.ID, f"step-{step}"), step
    assert "contact.tier == 'platinum'" in graph.get_attribute("innerHTML")  # the branch's arm is labelled
    welcome = browser.find_element(By.XPATH, "//table[@id='funnel']//tr[th[starts-with(normalize-space(), 'welcome')]]")
    counts = {cell.get_attribute("data-count"): int(cell.text) for cell in welcome.find_elements(By.CSS_SELECTOR, "td")}
    assert counts["requested"] >= 2 and counts["sent"] >= 2, counts
    assert int(browser.find_element(By.ID, "enrolled").text) >= 2
    broadcasts = browser.find_element(By.ID, "bc-h").find_element(By.XPATH, "..").text
    assert "No broadcasts yet" not in broadcasts and re.search(r"finished|running", broadcasts), broadcasts
    screenshot(browser, "campaign")
    check_page(browser, "campaign")
    e2e.call("POST", "campaigns", f"/campaigns/{campaign['id']}/archive", role="marketer")


def test_agent_claims_and_completes_the_withdrawal_call(e2e: E2E, console: str, browser) -> None:
    e2e.set_policy()
    cohort = uuid.uuid4().hex[:8]
    person = e2e.contact(tier="platinum", attributes={"tier": "platinum", "cohort": cohort})
    # The demo's withdrawal policy, narrowed to this test's contact so other scenarios' withdrawals stay theirs.
    entry = {**WITHDRAWAL_POLICY["entry"],
             "condition": f"{WITHDRAWAL_POLICY['entry']['condition']} and contact.cohort == '{cohort}'"}
    policy = e2e.campaign({**WITHDRAWAL_POLICY, "name": f"{WITHDRAWAL_POLICY['name']} {cohort}", "entry": entry})
    e2e.event(person["id"], "withdrawal", amount=25000)

    def open_task() -> list[dict]:
        return e2e.call("GET", "channels", "/tasks", role="agent", params={"contact_id": person["id"]})

    [task] = wait_for(open_task, timeout=30, interval=0.3, message="the call task of the withdrawal")

    sign_in(browser, console, e2e.system.keys["agent"])
    browser.get(f"{console}/agent/tasks?contact_id={person['id']}")
    card = browser.find_element(By.ID, f"task-{task['id']}")
    assert "withdrew 25000" in card.text and "P100" in card.text
    screenshot(browser, "agent")
    check_page(browser, "agent")
    submit(browser, browser.find_element(By.ID, f"claim-{task['id']}"))
    assert f"Task {task['id']} is yours" in browser.page_source
    assert open_task() == []  # a claimed task is offered to nobody else
    Select(browser.find_element(By.ID, f"outcome-{task['id']}")).select_by_value("reached_interested")
    browser.find_element(By.ID, f"notes-{task['id']}").send_keys("wants an advisor call on Friday")
    submit(browser, browser.find_element(By.ID, f"complete-{task['id']}"))
    assert f"Task {task['id']} completed" in browser.page_source
    [done] = e2e.call("GET", "channels", "/tasks", role="agent",
                      params={"contact_id": person["id"], "status": "completed"})
    assert done["outcome"] == "reached_interested" and done["notes"] == "wants an advisor call on Friday"
    e2e.call("POST", "campaigns", f"/campaigns/{policy['id']}/archive", role="marketer")


def test_operator_replays_a_dead_letter(e2e: E2E, console: str, browser) -> None:
    marker = uuid.uuid4().hex
    connection = pika.BlockingConnection(pika.URLParameters(e2e.system.amqp_url))
    try:  # a message no consumer can read goes straight to its dead-letter queue
        connection.channel().basic_publish(f"{e2e.system.namespace}.events", "interaction.recorded",
                                           json.dumps({"not": "an envelope", "marker": marker}).encode(),
                                           pika.BasicProperties(message_id=marker, delivery_mode=2))
    finally:
        connection.close()
    queue = f"{e2e.system.namespace}.contacts.interactions.dead"

    def dead() -> list[dict]:
        return [d for d in e2e.call("GET", "contacts", f"/dead-letters/{queue}", params={"limit": 50})
                if d["message_id"] == marker]

    wait_for(dead, timeout=30, interval=0.3, message="the malformed message in the dead letters")

    sign_in(browser, console, e2e.system.keys["operator"])
    submit(browser, browser.find_element(By.LINK_TEXT, "Dead letters"))
    assert queue in browser.page_source and "malformed" in browser.page_source
    screenshot(browser, "dead-letters")
    check_page(browser)
    submit(browser, browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Replay {queue}']"))
    assert "Replayed" in browser.page_source and queue in browser.page_source
    submit(browser, browser.find_element(By.LINK_TEXT, "Health"))
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart") and "healthy" in browser.page_source
    check_page(browser)
