"""Every service of the running system is healthy and keeps its API description behind a key."""

from __future__ import annotations

import requests

from tests.system import SERVICES


def test_every_service_is_healthy_and_openapi_needs_a_key(system) -> None:
    """/healthz answers 200 without a key; /openapi.json is 401 without one and 200 with one."""
    for service in SERVICES:
        assert requests.get(system.url(service, "/healthz"), timeout=5).status_code == 200, service
        assert requests.get(system.url(service, "/openapi.json"), timeout=5).status_code == 401, service
        keyed = system.session("operator").get(system.url(service, "/openapi.json"), timeout=5)
        assert keyed.status_code == 200 and keyed.json().get("paths"), service
