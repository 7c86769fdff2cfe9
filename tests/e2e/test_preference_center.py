"""The preference center in headless Chromium, reached from the link in an email the SMTP server received.

Two marketing campaigns with their own topics (loans, funds) send one email each time their event
arrives. The contact opens the preference link from the first loans email, unticks loans and saves:
the next loans email is suppressed by the channels gate (decision recorded), a funds email is
delivered. The page passes the accessibility and phone-width checks in English and in German (a
second contact whose locale is `de`, whose email carries the preference link in a German footer). With CONSOLE_SCREENSHOTS=docs/contacts the page is kept as
docs/contacts/preference-center.png.
"""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from typing import Any

from selenium.webdriver.common.by import By

from tests.e2e.conftest import E2E
from tests.e2e.console_a11y import check_page
from tests.e2e.console_browser import screenshot, submit
from tests.support import wait_for


def _topic_campaign(e2e: E2E, tag: str, topic: str, event_type: str) -> dict:
    return e2e.campaign({"name": f"prefs {topic}", "category": "marketing", "topic": topic,
                         "entry": {"type": "event", "event_type": event_type}, "reentry": {"policy": "always"},
                         "steps": [{"id": "s0", "type": "send", "channel": "email",
                                    "template": {"subject": f"News about {topic}",
                                                 "body": "Hello {{ contact.first_name }}"}}]})


def _links(envelope: Any, footer: str = "Manage your preferences or unsubscribe: ") -> tuple[str, str]:
    """The preference link in the body and the List-Unsubscribe link of a received email.

    The template has no `$preferences_url`, so the link is in the smtp adapter's footer, whose words
    are in the contact's language (`footer`)."""
    message = message_from_bytes(envelope.original_content, policy=policy.default)
    body = message.get_body(("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/p/\S+", body)
    assert f"{footer}{link}" in body, body
    return link, str(message["List-Unsubscribe"]).strip("<>")


def _first_email(e2e: E2E, contact: dict, event_type: str) -> Any:
    e2e.event(contact["id"], event_type)
    [mail] = wait_for(lambda: e2e.smtp.to(contact["email"]), timeout=20, interval=0.1, message="the first email")
    return mail


def test_unticking_a_topic_in_the_browser_suppresses_that_topic_and_not_the_other(e2e: E2E, browser: Any) -> None:
    e2e.set_policy()
    tag = uuid.uuid4().hex[:8]
    loans, funds = f"loans-{tag}", f"funds-{tag}"
    for key, labels in ((loans, {"en": "Mortgages and loans", "de": "Hypotheken und Kredite"}),
                        (funds, {"en": "Investment funds", "de": "Investmentfonds"})):
        e2e.call("PUT", "contacts", f"/topics/{key}", role="marketer", json={"labels": labels})
    loan_campaign = _topic_campaign(e2e, tag, loans, f"loan_news_{tag}")
    fund_campaign = _topic_campaign(e2e, tag, funds, f"fund_news_{tag}")
    contact = e2e.contact()

    link, one_click = _links(_first_email(e2e, contact, f"loan_news_{tag}"))
    assert link.startswith(e2e.system.url("contacts", "/p/")), link
    assert link.rsplit("/", 1)[1] == one_click.rsplit("/", 1)[1]  # the same token as List-Unsubscribe

    browser.get(link)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    loans_box = browser.find_element(By.CSS_SELECTOR, f'input[name="topic"][value="{loans}"]')
    assert loans_box.is_selected() and "Mortgages and loans" in browser.page_source
    screenshot(browser, "preference-center")
    check_page(browser)
    assert e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer") == []

    browser.find_element(By.CSS_SELECTOR, f'input[name="topic"][value="{loans}"]').click()
    submit(browser, browser.find_element(By.CSS_SELECTOR, 'button[value="save"]'))
    assert "Your choices are saved" in browser.find_element(By.CSS_SELECTOR, '[role="status"]').text
    assert not browser.find_element(By.CSS_SELECTOR, f'input[name="topic"][value="{loans}"]').is_selected()
    [row] = e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer")
    assert (row["scope"], row["value"], row["source"]) == ("topic", loans, "preference_center")

    # The change reaches the gate through the outbox (the suppression delay bound): wait until it knows.
    def gate(topic: str) -> str:
        return e2e.call("POST", "channels", "/dry-run", role="marketer", json={
            "contact_id": contact["id"], "channel": "email", "category": "marketing", "topic": topic})["outcome"]

    wait_for(lambda: gate(loans) == "suppressed", timeout=20, interval=0.2, message="the gate to know the stop")
    assert gate(funds) == "send"

    e2e.event(contact["id"], f"loan_news_{tag}")
    e2e.event(contact["id"], f"fund_news_{tag}")
    loan_decisions = e2e.wait_decisions(2, campaign_id=loan_campaign["id"])
    assert sorted(d["outcome"] for d in loan_decisions) == ["send", "suppressed"], loan_decisions
    [stopped] = [d for d in loan_decisions if d["outcome"] == "suppressed"]
    assert loans in f"{stopped['reason']} {stopped['detail']} {stopped.get('rule_id')}", stopped
    [fund_decision] = e2e.wait_decisions(1, campaign_id=fund_campaign["id"])
    assert fund_decision["outcome"] == "send", fund_decision
    wait_for(lambda: len(e2e.smtp.to(contact["email"])) >= 2, timeout=20, interval=0.1, message="the funds email")
    mails = e2e.smtp.to(contact["email"])
    subjects = [str(message_from_bytes(m.original_content, policy=policy.default)["Subject"]) for m in mails]
    assert subjects == [f"News about {loans}", f"News about {funds}"]

    # The same page in German, for a contact whose locale is German.
    german = e2e.contact(locale="de")
    link, _ = _links(_first_email(e2e, german, f"loan_news_{tag}"), "Einstellungen verwalten oder abmelden: ")
    browser.get(link)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert "Auswahl speichern" in browser.page_source and "Hypotheken und Kredite" in browser.page_source
    check_page(browser)
