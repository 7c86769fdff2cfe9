"""Shared builders for the campaign rule tests: definitions and filter contexts as plain data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from services.campaigns.domain.filters import MappingContext

NOW = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)  # a Monday


def _make_ctx(
    contact: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    events: list[Mapping[str, Any]] | None = None,
    now: datetime = NOW,
) -> Any:
    """A filter context for one contact and (optionally) the event being handled."""
    return MappingContext(
        contact=contact or {"id": "c1", "tier": "gold"},
        event=event,
        consents={"email": "granted", "sms": "granted"},
        suppressions=[],
        history=events or [],
        now_at=now,
    )


def _definition(steps: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A valid marketing campaign definition around `steps`; keyword arguments replace top-level keys."""
    raw: dict[str, Any] = {
        "name": "test campaign",
        "category": "marketing",
        "priority": 5,
        "topic": None,
        "entry": {"type": "segment", "segment_id": "seg-1", "schedule": {"at": "2024-05-06T09:00:00+00:00"}},
        "steps": steps,
        "exit_goals": [],
        "reentry": {"policy": "never"},
    }
    raw.update(overrides)
    return raw


@pytest.fixture
def make_ctx() -> Callable[..., Any]:
    """Build a filter context for one contact."""
    return _make_ctx


@pytest.fixture
def definition() -> Callable[..., dict[str, Any]]:
    """Build a raw campaign definition around a list of steps."""
    return _definition
