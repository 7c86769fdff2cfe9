"""The local demo: keys per role, demo contacts, a drip campaign, two interaction policies, a policy,
the preference center's topics, and one newsletter email whose links `./scripts/up` prints.

`./scripts/up` calls `seed(operator_key)` once every service is healthy. Idempotent: contacts are
found by `external_id`, segments and campaigns by name, keys are kept in .run/state.json, so
running it again creates nothing twice.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from tools.cli.client import Api, CliError, service_url

ROLES = ("marketer", "agent", "channel_owner", "ingest")

# (first name, last name, tier, time zone, phone): a spread of zones so quiet hours show up somewhere.
PEOPLE = [
    ("Ada", "Lovelace", "platinum", "Europe/London", "+447911123456"),
    ("Jan", "de Vries", "platinum", "Europe/Amsterdam", "+31612345601"),
    ("Mei", "Chen", "platinum", "Asia/Shanghai", "+8613800138001"),
    ("Carlos", "Silva", "platinum", "America/Sao_Paulo", "+5511912345601"),
    ("Grace", "Hopper", "platinum", "America/New_York", "+12025550101"),
    ("Aiko", "Tanaka", "gold", "Asia/Tokyo", "+819012345601"),
    ("Liam", "Murphy", "gold", "Europe/Dublin", "+353851234501"),
    ("Priya", "Sharma", "gold", "Asia/Kolkata", "+919812345601"),
    ("Noah", "Smith", "gold", "Australia/Sydney", "+61412345601"),
    ("Amara", "Okafor", "gold", "Africa/Lagos", "+2348012345601"),
    ("Sofia", "Rossi", "silver", "Europe/Rome", "+393123456701"),
    ("Lucas", "Martin", "silver", "Europe/Paris", "+33612345601"),
    ("Emma", "Johnson", "silver", "America/Chicago", "+13125550101"),
    ("Olivia", "Brown", "silver", "America/Los_Angeles", "+14155550101"),
    ("Hugo", "Müller", "silver", "Europe/Berlin", "+4915123456789"),
    ("Fatima", "Haddad", "silver", "Asia/Dubai", "+971501234501"),
    ("Ivan", "Petrov", "basic", "Europe/Helsinki", "+358401234501"),
    ("Zanele", "Dlamini", "basic", "Africa/Johannesburg", "+27821234501"),
    ("Mateo", "García", "basic", "America/Mexico_City", "+525512345601"),
    ("Ana", "Kowalska", "basic", "Pacific/Auckland", "+64211234501"),
]

SEGMENT = {"name": "Demo: contacts who opted in to email",
           "description": "every demo contact with email consent (the drip's audience)",
           "definition": "has_consent('email')"}

WITHDRAWAL_POLICY = {
    "name": "Demo: large withdrawal by a platinum customer → call",
    "category": "service", "priority": 90,
    "entry": {"type": "event", "event_type": "withdrawal",
              "condition": "event.amount > 10000 and contact.tier == 'platinum'"},
    "steps": [{"id": "call", "type": "send", "channel": "call", "priority": 100, "expires_after": "1d",
               "template": {"subject": "Call {{ contact.first_name }} {{ contact.last_name }}",
                            "body": "{{ contact.first_name }} withdrew {{ event.amount }}; "
                                    "please call about our investment options."}}],
    "reentry": {"policy": "always"},
}

ADDRESS_POLICY = {
    "name": "Demo: address changed via the call center → mortgage offer",
    "category": "marketing", "topic": "mortgage",
    "entry": {"type": "event", "event_type": "address_changed", "condition": "event.channel == 'call_center'"},
    "steps": [{"id": "offer", "type": "send", "channel": "web",
               "template": {"subject": "Moving house?",
                            "body": "{{ contact.first_name }}, a mortgage for your new home in {{ event.city }}."}}],
    "exit_goals": [{"event_type": "mortgage_opened", "suppress_topic": "mortgage"}],
    "reentry": {"policy": "cooldown", "cooldown": "30d"},
}


# The preference center's topic catalogue: the topics the demo campaigns use, labelled in EN and DE.
TOPICS = {"welcome": {"en": "Getting started", "de": "Erste Schritte"},
          "mortgage": {"en": "Mortgages", "de": "Hypotheken"},
          "news": {"en": "Newsletter", "de": "Newsletter"}}

# One marketing email on request: the seed sends it to one demo contact and prints its links. The
# template places the preference link itself ({{ preferences_url }}: the placeholder channels' email
# adapter fills in with the message's own signed link).
NEWSLETTER = {
    "name": "Demo: newsletter (preference center link)",
    "category": "marketing", "topic": "news",
    "entry": {"type": "event", "event_type": "newsletter_requested"},
    "steps": [{"id": "newsletter", "type": "send", "channel": "email",
               "template": {"subject": "Our newsletter, {{ contact.first_name }}",
                            "body": "Hello {{ contact.first_name }}, here is what is new this month.\n\n"
                                    "Choose what we send you, or unsubscribe: {{ preferences_url }}"}}],
    "reentry": {"policy": "always"},
}
MAIL_WAIT_SECONDS = 30.0


def drip(segment_id: str) -> dict:
    """The welcome drip: email → wait 2 days → branch on tier → one of two SMS."""
    return {
        "name": "Demo: welcome drip",
        "category": "marketing", "topic": "welcome", "priority": 50,
        "entry": {"type": "segment", "segment_id": segment_id,
                  "schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Amsterdam"}},
        "steps": [
            {"id": "welcome", "type": "send", "channel": "email", "next": "pause",
             "template": {"subject": "Welcome, {{ contact.first_name }}",
                          "body": "Hello {{ contact.first_name }}, good to have you with us."}},
            {"id": "pause", "type": "wait", "duration": "2d", "next": "route"},
            {"id": "route", "type": "branch",
             "branches": [{"condition": "contact.tier == 'platinum'", "next": "sms_platinum"}],
             "else": "sms_regular"},
            {"id": "sms_platinum", "type": "send", "channel": "sms",
             "template": {"body": "{{ contact.first_name }}, your platinum advisor will be in touch."}},
            {"id": "sms_regular", "type": "send", "channel": "sms",
             "template": {"body": "{{ contact.first_name }}, see what's new in the app."}},
        ],
        "reentry": {"policy": "never"},
    }


# Defaults plus a daily marketing cap; calls follow the call center's opening hours (every day).
POLICY = {
    "caps": [{"id": "marketing-weekly", "limit": 3, "window_seconds": 7 * 86400, "scope": "category",
              "scope_value": "marketing"},
             {"id": "marketing-daily", "limit": 1, "window_seconds": 86400, "scope": "category",
              "scope_value": "marketing"},
             {"id": "sms-daily", "limit": 1, "window_seconds": 86400, "scope": "channel", "scope_value": "sms"}],
    "min_marketing_gap_seconds": 4 * 3600,
    "quiet_hours": {"email": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "21:00"}],
                    "sms": [{"weekdays": [0, 1, 2, 3, 4, 5], "start": "09:00", "end": "20:00"}],
                    "call": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "22:00"}]},
    "opt_in_channels": ["email", "sms"],
    "control_group": None,
    "capacity": [],
}


def external_id(index: int) -> str:
    """External id of the demo contact number `index` (0-based)."""
    return f"demo-{index + 1:03d}"


def contact_body(index: int) -> dict:
    """The demo contact number `index`."""
    first, last, tier, zone, phone = PEOPLE[index]
    local = first.lower().replace("ü", "u").replace("í", "i")
    return {"external_id": external_id(index), "first_name": first, "last_name": last,
            "email": f"{local}.{index + 1:03d}@example.com", "phone": phone, "time_zone": zone,
            "locale": "en", "attributes": {"tier": tier, "demo": True}}


def ensure_keys(state: dict, store) -> dict[str, str]:
    """A key per demo role, created once and kept in `state` (the caller saves it)."""
    keys = {}
    for role in ROLES:
        name = f"{role}_key"
        if name not in state or store.verify(state[name]) is None:
            state[name] = store.create(f"local demo {role}", role)[1]
        keys[role] = state[name]
    return keys


def ensure_contacts(contacts: Api) -> list[dict]:
    """The demo contacts (created with email and SMS consent the first time); returns them in order."""
    found = []
    for index in range(len(PEOPLE)):
        existing = contacts.get("/contacts", params={"external_id": external_id(index)}).get("items") or []
        if existing:
            found.append(existing[0])
            continue
        created = contacts.post("/contacts", json=contact_body(index))
        for channel in ("email", "sms"):
            contacts.request("PUT", f"/contacts/{created['id']}/consent/{channel}",
                             json={"status": "granted", "source": "demo seed"})
        found.append(created)
    return found


def ensure_segment(contacts: Api) -> str:
    """The drip's segment, found by name or created."""
    for segment in _items(contacts.get("/segments", params={"limit": 500})):
        if segment.get("name") == SEGMENT["name"]:
            return segment["id"]
    return contacts.post("/segments", json=SEGMENT)["id"]


def ensure_campaign(campaigns: Api, definition: dict) -> dict:
    """A campaign found by name or created; activated when it is a draft."""
    existing = [c for c in campaigns.get("/campaigns", params={"limit": 500})
                if c.get("name") == definition["name"] and c.get("status") != "archived"]
    campaign = existing[0] if existing else campaigns.post("/campaigns", json=definition)
    if campaign.get("status") == "draft":
        campaign = campaigns.post(f"/campaigns/{campaign['campaign_id']}/activate")
    return campaign


def _items(body) -> list[dict]:
    return body.get("items", []) if isinstance(body, dict) else list(body or [])


def example_contact(people: list[dict], now: datetime | None = None) -> dict:
    """A platinum contact for whom a call is allowed right now (08:00–22:00 local), else the first one."""
    now = now or datetime.now(UTC)
    platinum = [p for p in people if (p.get("attributes") or {}).get("tier") == "platinum"]
    for person in platinum:
        if 8 <= now.astimezone(ZoneInfo(person["time_zone"])).hour < 22:
            return person
    return platinum[0] if platinum else people[0]


def seed(operator_key: str) -> None:
    """Create the demo data that is missing and print where to look."""
    from tools.cli import _key_store
    from tools.devrun import _save_state, _state

    state = _state()
    keys = ensure_keys(state, _key_store())
    _save_state(state)
    print("==> seeding the demo", flush=True)
    contacts = Api("contacts", operator_key)
    people = ensure_contacts(contacts)
    segment_id = ensure_segment(contacts)
    channels = Api("channels", operator_key)
    channels.request("PUT", "/policy", json=POLICY)
    campaigns = Api("campaigns", operator_key)
    made = [ensure_campaign(campaigns, definition)
            for definition in (drip(segment_id), WITHDRAWAL_POLICY, ADDRESS_POLICY)]
    print(f"    {len(people)} contacts, segment {segment_id}, "
          + ", ".join(f"{c['name']!r} {c['status']}" for c in made), flush=True)
    person = example_contact(people)
    print(where_to_look(keys, person, made[0]["campaign_id"], operator_key), flush=True)
    for key, labels in TOPICS.items():
        contacts.request("PUT", f"/topics/{key}", json={"labels": labels})
    ensure_campaign(campaigns, NEWSLETTER)
    reader = email_contact(people)
    print(newsletter_links(state, contacts, channels, reader), flush=True)


def newsletter_links(state: dict, contacts: Api, channels: Api, person: dict) -> str:
    """Send the newsletter to `person`, wait for it in the mail catcher, and say where its links lead.

    When the gate holds it back (a cap, the quiet hours of the person's zone) or no catcher takes it,
    the links are minted as channels mints them, and the gate's reason is given.
    """
    from tools.catchers.store import CaughtMessages
    from tools.devrun import RUN_DIR

    caught = CaughtMessages(RUN_DIR / "mail", ".eml")
    before = {entry["id"] for entry in caught.entries()}
    contacts.post("/events", json={"event_id": f"demo-newsletter-{time.time_ns()}", "contact_id": person["id"],
                                   "type": "newsletter_requested", "occurred_at": datetime.now(UTC).isoformat(),
                                   "data": {}})
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        for entry in caught.entries():
            if entry["id"] not in before and person["email"] in entry.get("rcpt_to", []):
                preferences, one_click = mail_links(caught.get(entry["id"])[1])
                return _links_text(f"the newsletter to {person['first_name']} {person['last_name']} "
                                   f"(touchpoint mail show {entry['id']})", preferences, one_click)
        time.sleep(0.5)
    decisions = channels.get("/decisions", params={"contact_id": person["id"], "limit": 1})
    why = f"{decisions[0]['outcome']}: {decisions[0].get('detail') or decisions[0].get('reason')}" \
        if decisions else "no decision yet"
    links = minted_links(state, person["id"])
    if links is None:
        return "  # the newsletter email was not caught and no UNSUBSCRIBE_SECRET is set: no links to show\n"
    preferences, one_click = links
    return _links_text(f"{person['first_name']} {person['last_name']}'s email links (the newsletter was "
                       f"not caught within {MAIL_WAIT_SECONDS:.0f} s; the gate said {why})", preferences, one_click)


def _links_text(what: str, preferences: str, one_click: str) -> str:
    return (f"  # {what}:\n"
            f"  # the preference center (open it in a browser: channels, topics, unsubscribe from everything)\n"
            f"  {preferences}\n"
            "  # one-click unsubscribe (RFC 8058, List-Unsubscribe): POST as a mailbox provider does\n"
            f"  curl -s -X POST -d List-Unsubscribe=One-Click '{one_click}'\n")


def mail_links(raw: bytes) -> tuple[str, str]:
    """The preference center link in a marketing email's text and its List-Unsubscribe https link."""
    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    found = re.search(r"https?://\S+/p/[A-Za-z0-9._-]+", text)
    header = str(message.get("List-Unsubscribe") or "")
    one_click = next((t.strip(" <>") for t in header.split(",") if t.strip(" <").startswith("http")), "")
    return (found.group(0) if found else ""), one_click


def email_contact(people: list[dict], now: datetime | None = None) -> dict:
    """A contact whose local time is inside the demo policy's email hours (08:00–21:00), else the first one."""
    now = now or datetime.now(UTC)
    for person in people:
        if 8 <= now.astimezone(ZoneInfo(person["time_zone"])).hour < 21:
            return person
    return people[0]


def unsubscribe_link(state: dict, contact_id: str) -> str | None:
    """The one-click unsubscribe link of a contact's email, minted as channels mints it; None without a secret."""
    links = minted_links(state, contact_id)
    return links[1] if links else None


def minted_links(state: dict, contact_id: str) -> tuple[str, str] | None:
    """The preference center and one-click links of a contact's email (one token, as channels mints it)."""
    from shared.unsubscribe import mint, preferences_url, unsubscribe_url

    secret = os.environ.get("UNSUBSCRIBE_SECRET") or state.get("unsubscribe_secret")
    if not secret:
        return None
    public_url = os.environ.get("TOUCHPOINT_PUBLIC_URL") or service_url("contacts")
    token = mint(secret, contact_id, "channel", "email", datetime.now(UTC))
    return preferences_url(public_url, token), unsubscribe_url(public_url, token)


def where_to_look(keys: dict[str, str], person: dict, drip_id: str, operator_key: str) -> str:
    """Example curl commands and their CLI equivalents."""
    c, ch = service_url("contacts"), service_url("channels")
    cid = person["id"]
    stamp = "'$(date +%s%N)'"  # a fresh event_id each time the command is pasted
    when = "'$(date -u +%FT%T+00:00)'"
    event = ('{"event_id": "demo-w-' + stamp + '", "contact_id": "' + cid + '", "type": "withdrawal", '
             '"occurred_at": "' + when + '", "data": {"amount": 25000}}')
    address = ('{"event_id": "demo-a-' + stamp + '", "contact_id": "' + cid + '", "type": "address_changed", '
               '"occurred_at": "' + when + '", "data": {"channel": "call_center", "city": "Utrecht"}}')
    return f"""
Demo: keys in .run/state.json — marketer {keys['marketer']}
      agent {keys['agent']}   channel_owner {keys['channel_owner']}   ingest {keys['ingest']}
Example contact: {person.get('first_name')} {person.get('last_name')} (platinum, {person.get('time_zone')}) {cid}

  # a large withdrawal -> a call-center task at priority 100
  curl -s -X POST {c}/events -H 'X-API-Key: {keys['ingest']}' -H 'Content-Type: application/json' \\
       -d '{event}'
  curl -s '{ch}/tasks?status=open' -H 'X-API-Key: {keys['agent']}'
  # an address change through the call center -> a mortgage offer on the web page
  curl -s -X POST {c}/events -H 'X-API-Key: {keys['ingest']}' -H 'Content-Type: application/json' \\
       -d '{address}'
  curl -s {ch}/contacts/{cid}/offers -H 'X-API-Key: {keys['channel_owner']}'
  # why (not): the gate's decisions, and the contact's timeline
  curl -s '{ch}/decisions?contact_id={cid}' -H 'X-API-Key: {keys['marketer']}'
  curl -s {c}/contacts/{cid}/timeline -H 'X-API-Key: {keys['marketer']}'

The same with the CLI (.venv/bin/touchpoint):
  touchpoint --key {keys['ingest']} event post {cid} withdrawal '{{"amount": 25000}}'
  touchpoint --key {keys['agent']} tasks
  touchpoint --key {keys['ingest']} event post {cid} address_changed '{{"channel": "call_center", "city": "Utrecht"}}'
  touchpoint --key {keys['channel_owner']} offers {cid}
  touchpoint --key {keys['marketer']} decisions {cid}
  touchpoint --key {keys['marketer']} contact timeline {cid}
  touchpoint --key {operator_key} broadcast trigger campaign:{drip_id}
  touchpoint --key {keys['marketer']} campaign report {drip_id}
"""


__all__ = ["CliError", "seed"]
