"""The brief's scenarios end to end, through the public HTTP APIs of the four running services only.

Negative checks ("no task for the gold contact") never sleep: the negative case is sent first and a
positive case after it through the same queues, so once the positive effect is visible the negative
event has been handled too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import E2E
from tests.support import wait_for

WEEK = 7 * 86400


def chain(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps with ids s0, s1, ... each pointing at the next one (the last ends the enrollment)."""
    linked = []
    for index, step in enumerate(steps):
        nxt = f"s{index + 1}" if index + 1 < len(steps) else None
        linked.append({"id": f"s{index}", **step, **({"next": nxt} if nxt else {})})
    return linked


def send(channel: str, text: str, **extra: Any) -> dict[str, Any]:
    """A send step with an inline template."""
    return {"type": "send", "channel": channel, "template": {"subject": text, "body": f"Hello {{{{ contact.first_name }}}}: {text}"},
            **extra}


def name(label: str) -> str:
    """A campaign name of its own."""
    return f"e2e {label} {uuid.uuid4().hex[:6]}"


def test_platinum_withdrawal_over_10000_creates_a_call_center_task(e2e: E2E) -> None:
    """Platinum withdrawal of 12,000 → an open call task (agent); a gold contact's withdrawal → none."""
    e2e.set_policy()
    platinum, gold = e2e.contact(tier="platinum"), e2e.contact(tier="gold")
    e2e.campaign({"name": name("withdrawal"), "category": "service", "priority": 90,
                  "entry": {"type": "event", "event_type": "withdrawal",
                            "condition": "event.amount > 10000 and contact.tier == 'platinum'"},
                  "steps": chain(send("call", "Call about the large withdrawal", priority=100, expires_after="1d")),
                  "reentry": {"policy": "always"}})

    e2e.event(gold["id"], "withdrawal", amount=12000)  # first: handled before the platinum one
    e2e.event(platinum["id"], "withdrawal", amount=12000)

    def task_of(contact_id: str) -> list[dict]:
        return [t for t in e2e.call("GET", "channels", "/tasks", role="agent", params={"status": "open"})
                if t["contact_id"] == contact_id]

    tasks = wait_for(lambda: task_of(platinum["id"]), timeout=20, interval=0.2, message="the call task")
    assert len(tasks) == 1 and tasks[0]["priority"] == 100
    assert task_of(gold["id"]) == []
    assert e2e.decisions(contact_id=gold["id"]) == []


def test_address_change_through_the_call_center_offers_a_mortgage_on_the_web(e2e: E2E) -> None:
    """address_changed via call_center → a mortgage web offer (channel_owner); via the web form → none."""
    e2e.set_policy()
    by_phone, by_form = e2e.contact(), e2e.contact()
    e2e.campaign({"name": name("address"), "category": "marketing", "priority": 50,
                  "entry": {"type": "event", "event_type": "address_changed",
                            "condition": "event.channel == 'call_center'"},
                  "steps": chain(send("web", "Moving? Our mortgage offer", expires_after="30d"))})

    e2e.event(by_form["id"], "address_changed", channel="web_form")
    e2e.event(by_phone["id"], "address_changed", channel="call_center")

    def offers(contact_id: str) -> list[dict]:
        return e2e.call("GET", "channels", f"/contacts/{contact_id}/offers", role="channel_owner")

    shown = wait_for(lambda: offers(by_phone["id"]), timeout=20, interval=0.2, message="the web offer")
    assert len(shown) == 1 and "mortgage" in str(shown[0]["content"]).lower()
    assert offers(by_form["id"]) == []


def test_mortgage_taken_monday_means_no_mortgage_mail_tuesday(e2e: E2E) -> None:
    """The exit goal ends the drip and suppresses topic 'mortgage' for every later mortgage campaign."""
    e2e.set_policy()
    contact = e2e.contact()
    drip = e2e.campaign({"name": name("mortgage drip"), "category": "marketing", "topic": "mortgage",
                         "entry": {"type": "event", "event_type": "rates_viewed"},
                         "steps": chain(send("email", "Mortgage rates for you"), {"type": "wait", "duration": "1d"},
                                        send("email", "Still thinking about a mortgage?")),
                         "exit_goals": [{"event_type": "product_purchased", "condition": "event.product == 'mortgage'",
                                         "suppress_topic": "mortgage"}]})
    e2e.event(contact["id"], "rates_viewed")
    wait_for(lambda: e2e.smtp.to(contact["email"]), timeout=20, interval=0.2, message="the first mortgage email")
    wait_for(lambda: e2e.pending_entries(drip["id"]), timeout=20, interval=0.2, message="the drip's day-two wake")

    e2e.event(contact["id"], "product_purchased", product="mortgage")  # Monday

    def report() -> dict:
        return e2e.call("GET", "campaigns", f"/campaigns/{drip['id']}/report", role="marketer")

    wait_for(lambda: report()["enrollments"].get("converted") == 1, timeout=20, interval=0.2,
             message="the enrollment to end as converted")
    suppressions = wait_for(
        lambda: [s for s in e2e.call("GET", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer")
                 if s["scope"] == "topic" and s["value"] == "mortgage"],
        timeout=20, interval=0.2, message="the topic suppression")
    assert suppressions
    # The gate has the suppression too (a dry run asks it without reserving anything).
    wait_for(lambda: e2e.call("POST", "channels", "/dry-run", json={
        "contact_id": contact["id"], "channel": "email", "category": "marketing", "topic": "mortgage"})["outcome"]
        == "suppressed", timeout=20, interval=0.2, message="the gate to know the topic suppression")

    # Tuesday: another mortgage campaign, started afterwards, tries again.
    other = e2e.campaign({"name": name("mortgage promo"), "category": "marketing", "topic": "mortgage",
                          "entry": {"type": "event", "event_type": "promo_day"},
                          "steps": chain(send("email", "A mortgage deal just for you"))})
    e2e.event(contact["id"], "promo_day")
    decided = e2e.wait_decisions(1, campaign_id=other["id"], contact_id=contact["id"])
    assert decided[0]["outcome"] == "suppressed", decided
    assert "mortgage" in f"{decided[0]['reason']} {decided[0]['detail']} {decided[0]['rule_id']}", decided
    assert len(e2e.smtp.to(contact["email"])) == 1
    assert all(d["step_id"] == "s0" for d in e2e.decisions(campaign_id=drip["id"], contact_id=contact["id"]))
    # The drip's day-two wake is gone from the scheduler: nothing of this campaign is left to fire.
    wait_for(lambda: e2e.pending_entries(drip["id"]) == [], timeout=20, interval=0.2,
             message="the drip's wake to be cancelled")


def test_a_cross_channel_cap_of_three_a_week_holds_across_all_four_channels(e2e: E2E) -> None:
    """Cap 3 per 7 days on all channels; 8 sends over email, SMS, call and web → 3 sent, 5 capped."""
    e2e.set_policy(caps=[{"id": "e2e-weekly", "limit": 3, "window_seconds": WEEK, "scope": "all"}])
    contact = e2e.contact()
    channels = ["email", "sms", "call", "web"] * 2
    campaign = e2e.campaign({"name": name("cap"), "category": "marketing",
                             "entry": {"type": "event", "event_type": "cap_check"},
                             "steps": chain(*(send(ch, f"Touch {i} by {ch}") for i, ch in enumerate(channels)))})
    e2e.event(contact["id"], "cap_check")

    decided = e2e.wait_decisions(8, campaign_id=campaign["id"])
    outcomes = sorted(d["outcome"] for d in decided)
    assert outcomes == ["capped"] * 5 + ["send"] * 3, decided
    assert {d["rule_id"] for d in decided if d["outcome"] == "capped"} == {"e2e-weekly"}

    sent_channels = [d["channel"] for d in decided if d["outcome"] == "send"]

    def touches() -> int:
        return (len(e2e.smtp.to(contact["email"])) + len(e2e.gateway.to(contact["phone"]))
                + len([t for t in e2e.call("GET", "channels", "/tasks", role="agent", params={"status": "open"})
                       if t["contact_id"] == contact["id"]])
                + len(e2e.call("GET", "channels", f"/contacts/{contact['id']}/offers", role="channel_owner")))

    wait_for(lambda: touches() == 3, timeout=20, interval=0.2, message=f"3 deliveries ({sent_channels})")
    wait_for(lambda: all(d["delivery"]["state"] == "sent"
                         for d in e2e.decisions(campaign_id=campaign["id"]) if d["outcome"] == "send"),
             timeout=20, interval=0.2, message="every send delivered")
    assert touches() == 3


@pytest.mark.parametrize("how", ["unsubscribed", "consent_denied"])
def test_unsubscribe_stops_the_next_step_at_once(e2e: E2E, how: str) -> None:
    """Email → wait 3s → email; an email suppression (or consent withdrawn) after the first suppresses the second."""
    contact = e2e.contact()
    if how == "consent_denied":
        e2e.set_policy(opt_in_channels=["email"])
        e2e.call("PUT", "contacts", f"/contacts/{contact['id']}/consent/email", role="marketer",
                 json={"status": "granted", "source": "e2e signup form"})
        wait_for(lambda: e2e.call("POST", "channels", "/dry-run", json={
            "contact_id": contact["id"], "channel": "email", "category": "marketing"})["outcome"] == "send",
            timeout=20, interval=0.2, message="the gate to know the consent")
    else:
        e2e.set_policy()
    campaign = e2e.campaign({"name": name(how), "category": "marketing",
                             "entry": {"type": "event", "event_type": f"joined_{how}"},
                             "steps": chain(send("email", "Welcome"), {"type": "wait", "duration": "3s"},
                                            send("email", "Day two"))})
    e2e.event(contact["id"], f"joined_{how}")  # its own event type: the other variant's campaign stays active
    wait_for(lambda: e2e.smtp.to(contact["email"]), timeout=20, interval=0.1, message="the first email")
    if how == "consent_denied":
        e2e.call("PUT", "contacts", f"/contacts/{contact['id']}/consent/email", role="marketer",
                 json={"status": "denied", "source": "e2e preference centre"})
    else:
        e2e.call("POST", "contacts", f"/contacts/{contact['id']}/suppressions", role="marketer",
                 json={"scope": "channel", "value": "email", "reason": "unsubscribed"})

    decided = e2e.wait_decisions(2, campaign_id=campaign["id"])
    by_step = {d["step_id"]: d for d in decided}
    assert by_step["s0"]["outcome"] == "send"
    assert by_step["s2"]["outcome"] == "suppressed", by_step["s2"]
    expected = "consent" if how == "consent_denied" else "unsubscribed"
    assert expected in f"{by_step['s2']['reason']} {by_step['s2']['detail']}", by_step["s2"]
    assert len(e2e.smtp.to(contact["email"])) == 1


def _zone_at_three_in_the_morning(now: datetime) -> str:
    """An Etc/GMT zone whose local hour is 03 right now (Etc/GMT-N is UTC+N)."""
    offset = (3 - now.hour) % 24
    if offset > 12:
        offset -= 24  # keep within Etc/GMT+12 .. Etc/GMT-14
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")


def test_quiet_hours_defer_an_sms_to_the_next_morning_in_the_contacts_time_zone(e2e: E2E) -> None:
    """SMS allowed 08:00–21:00 local; at 03:xx local the request is deferred to 08:00 and the scheduler holds it."""
    now = datetime.now(UTC)
    zone = _zone_at_three_in_the_morning(now)
    e2e.set_policy(quiet_hours={"sms": [{"weekdays": list(range(7)), "start": "08:00", "end": "21:00"}]})
    contact = e2e.contact(time_zone=zone)
    campaign = e2e.campaign({"name": name("quiet"), "category": "marketing",
                             "entry": {"type": "event", "event_type": "night_owl"},
                             "steps": chain(send("sms", "Good morning offer", expires_after="2d"))})
    e2e.event(contact["id"], "night_owl")

    decided = e2e.wait_decisions(1, campaign_id=campaign["id"])[0]
    assert decided["outcome"] == "deferred", decided
    local_now = datetime.now(ZoneInfo(zone))
    if local_now.hour != 3:  # the hour turned between the two clock reads: the decision used the earlier one
        local_now -= timedelta(minutes=5)
    expected = local_now.replace(hour=8, minute=0, second=0, microsecond=0)
    defer_until = datetime.fromisoformat(decided["defer_until"])
    assert defer_until == expected, (decided, zone)
    assert defer_until.astimezone(ZoneInfo(zone)).hour == 8

    items = wait_for(lambda: e2e.pending_entries(campaign["id"]), timeout=20, interval=0.2, message="the scheduler's deferral entry")
    assert len(items) == 1 and datetime.fromisoformat(items[0]["due_at"]) == expected, items
    assert e2e.gateway.to(contact["phone"]) == []

    # A transactional SMS bypasses quiet hours: it goes out at once, at 03:xx local.
    receipt = e2e.campaign({"name": name("receipt"), "category": "transactional",
                            "entry": {"type": "event", "event_type": "payment_received"},
                            "steps": chain(send("sms", "Payment received"))})
    e2e.event(contact["id"], "payment_received")
    assert e2e.wait_decisions(1, campaign_id=receipt["id"])[0]["outcome"] == "send"
    wait_for(lambda: e2e.gateway.to(contact["phone"]), timeout=20, interval=0.2, message="the transactional SMS")
    assert [b["text"] for b in e2e.gateway.to(contact["phone"])] == ["Hello Erin: Payment received"]


def test_a_three_step_drip_email_wait_then_sms_or_email_by_branch(e2e: E2E) -> None:
    """Email → wait 3s → branch: platinum contacts get an SMS, the others a second email; all services live."""
    e2e.set_policy()
    platinum, gold = e2e.contact(tier="platinum"), e2e.contact(tier="gold")
    trigger = f"drip_{uuid.uuid4().hex[:6]}"
    campaign = e2e.campaign({"name": name("drip"), "category": "marketing",
                             "entry": {"type": "event", "event_type": trigger},
                             "steps": [
                                 {"id": "welcome", **send("email", "Welcome"), "next": "pause"},
                                 {"id": "pause", "type": "wait", "duration": "3s", "next": "tier"},
                                 {"id": "tier", "type": "branch",
                                  "branches": [{"condition": "contact.tier == 'platinum'", "next": "vip_sms"}],
                                  "else": "reminder"},
                                 {"id": "vip_sms", **send("sms", "A call from your adviser?")},
                                 {"id": "reminder", **send("email", "Still there?")},
                             ]})
    e2e.event(gold["id"], trigger)
    e2e.event(platinum["id"], trigger)
    decided = e2e.wait_decisions(4, timeout=30, campaign_id=campaign["id"])
    steps = {(d["contact_id"], d["step_id"]): d["outcome"] for d in decided}
    assert steps == {(platinum["id"], "welcome"): "send", (platinum["id"], "vip_sms"): "send",
                     (gold["id"], "welcome"): "send", (gold["id"], "reminder"): "send"}, steps
    wait_for(lambda: len(e2e.smtp.to(gold["email"])) == 2 and e2e.gateway.to(platinum["phone"]),
             timeout=20, interval=0.1, message="two emails for gold, an SMS for platinum")
    assert len(e2e.smtp.to(platinum["email"])) == 1 and not e2e.gateway.to(gold["phone"])
