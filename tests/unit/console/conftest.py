"""Fixtures of the console's page tests: the app against fake services."""

from __future__ import annotations

import pytest

from services.console import create_app
from services.console.config import ConsoleSettings
from tests.unit.console.fakes import FakeServices


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
def app(services):
    return create_app(ConsoleSettings(secret_key="test-secret", session_minutes=5), client_factory=services)
