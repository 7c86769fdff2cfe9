"""The whole system as real processes, once per session: four APIs, four workers, an SMTP server, an SMS gateway.

Tests here drive only the public HTTP APIs (`E2E` helpers below); each scenario uses its own contacts
and campaigns so scenarios never see each other's traffic. The dispatch policy is global, so every
scenario sets the one it needs through `PUT /policy` first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support import SmsGateway, SmtpSink, broker_vhost, wait_for
from tests.system import System, build_system, free_port

OPEN_POLICY = {"caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
               "control_group": None, "capacity": []}


class E2E:
    """The running system plus the fake providers, with small HTTP helpers that fail loudly."""

    def __init__(self, system: System, smtp: SmtpSink, gateway: SmsGateway) -> None:
        self.system, self.smtp, self.gateway = system, smtp, gateway
        self.sessions = {role: system.session(role) for role in system.keys}

    def call(self, method: str, service: str, path: str, role: str = "operator", expect: int | tuple = (200, 201, 202),
             **kwargs) -> Any:
        """Send a request; assert the status; return the JSON body (or None)."""
        response = self.sessions[role].request(method, self.system.url(service, path), timeout=15, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, f"{method} {service}{path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def set_policy(self, **overrides: Any) -> dict:
        """Replace the dispatch policy: no caps, gaps, quiet hours or opt-in unless overridden."""
        return self.call("PUT", "channels", "/policy", json={**OPEN_POLICY, **overrides},
                         params={"allow_empty": "true"})  # an open gate is what these scenarios mean

    def contact(self, tier: str = "gold", time_zone: str = "Europe/London", **fields: Any) -> dict:
        """Create a contact with its own email and phone; wait until channels knows it (its profile copy)."""
        tag = uuid.uuid4().hex[:10]
        body = {"external_id": f"e2e-{tag}", "email": f"e2e-{tag}@example.com",
                "phone": _mobile_number(), "first_name": "Erin", "last_name": tag,
                "time_zone": time_zone, "attributes": {"tier": tier}, **fields}
        return self.call("POST", "contacts", "/contacts", role="marketer", json=body)

    def campaign(self, definition: dict) -> dict:
        """Create and activate a campaign."""
        created = self.call("POST", "campaigns", "/campaigns", role="marketer", json=definition)
        self.call("POST", "campaigns", f"/campaigns/{created['campaign_id']}/activate", role="marketer")
        return {**created, "id": created["campaign_id"]}

    def event(self, contact_id: str, event_type: str, **data: Any) -> dict:
        """Post one event for a contact; assert it was accepted."""
        body = {"event_id": f"evt-{uuid.uuid4().hex}", "contact_id": contact_id, "type": event_type,
                "occurred_at": datetime.now(UTC).isoformat(), "data": data}
        answer = self.call("POST", "contacts", "/events", role="ingest", json=body)
        assert json.dumps(answer).count("accepted") >= 1, answer
        return answer

    def decisions(self, **query: str) -> list[dict]:
        """GET /decisions, newest first."""
        return self.call("GET", "channels", "/decisions", params={"limit": 200, **query})

    def pending_entries(self, owner: str) -> list[dict]:
        """The scheduler's pending entries of an owner (a campaign id)."""
        answer = self.call("GET", "scheduler", "/entries", params={"state": "pending", "owner": owner})
        return answer["items"] if isinstance(answer, dict) else answer

    def wait_decisions(self, count: int, timeout: float = 20, **query: str) -> list[dict]:
        """Wait until at least `count` decisions match the query; return them."""
        def enough() -> list[dict] | None:
            found = self.decisions(**query)
            return found if len(found) >= count else None

        return wait_for(enough, timeout=timeout, interval=0.2, message=f"{count} decision(s) for {query}")


def _mobile_number() -> str:
    """A random, valid UK mobile number in E.164 (contacts rejects numbers invalid for their country)."""
    import random

    import phonenumbers

    while True:
        number = f"+447{random.randint(100000000, 999999999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free loopback port."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def sms_gateway() -> Iterator[SmsGateway]:
    """The stand-in SMS gateway."""
    gw = SmsGateway()
    yield gw
    gw.close()


@pytest.fixture(scope="session")
def system(broker: str, auth_database_url: str, api_keys: dict[str, str], smtp_sink: SmtpSink,
           sms_gateway: SmsGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Every service's API and worker as subprocesses on fresh databases and a vhost of their own (`e2e`).

    One system serves every e2e module (starting it takes most of a minute), so its vhost is the
    session's rather than a module's.
    """
    adapters = {"email": {"adapter": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "sender": "news@e2e.test",
                          "backoff_seconds": 1},
                "sms": {"adapter": "sms_gateway", "url": sms_gateway.url, "backoff_seconds": 1},
                "call": {"adapter": "call_center"}, "web": {"adapter": "web_offers"}}
    with broker_vhost("e2e", current=False) as amqp_url:
        built = build_system("touchpoint", auth_database_url, api_keys, tmp_path_factory.mktemp("e2e-logs"),
                             # eight processes, beside the local-run test's eight and another test process:
                             # few idle database connections each (shared/db/engine.py)
                             extra_env={"CHANNELS_ADAPTERS": json.dumps(adapters), "TOUCHPOINT_DB_POOL_SIZE": "2"},
                             amqp_url=amqp_url)
        try:
            built.start()
            yield built
        finally:
            built.stop()


@pytest.fixture(scope="session")
def e2e(system: System, smtp_sink: SmtpSink, sms_gateway: SmsGateway) -> E2E:
    """The helpers over the running system."""
    return E2E(system, smtp_sink, sms_gateway)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed e2e test, attach the tail of every process log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        running: System | None = item.funcargs.get("system") or getattr(item.funcargs.get("e2e"), "system", None)
        if running is not None:
            for name in running.processes:
                report.sections.append((f"log {name}", running.logs(name)[-3000:]))


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def console(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web console as a process (gunicorn) pointed at the running services; yields its URL."""
    import sys

    import requests

    from tests.system import Process

    url = f"http://127.0.0.1:{free_port()}"
    env = {**system.env, "CONSOLE_SECRET_KEY": "e2e-console-secret", "CONSOLE_REFRESH_SECONDS": "120",
           **{f"TOUCHPOINT_{name.upper()}_URL": base for name, base in system.urls.items()}}
    process = Process("console", [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4", "--bind",
                                  url.removeprefix("http://"), "services.console:create_app()"],
                      env, tmp_path_factory.mktemp("console-logs") / "console.log")
    system.processes["console"] = process  # stopped with the rest; its log joins failure reports
    process.start()

    def up() -> bool:
        try:
            return requests.get(url + "/livez", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=60, interval=0.2, message="the console to answer")
    yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Debian's chromedriver (nothing is ever downloaded).

    Without them the browser tests skip with the install command; under CI=true they fail instead.
    """
    import os

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        message = (f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver "
                   "(./scripts/test does it when run as root)")
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
