"""The one request-context accessor: views reach the context, units of work, a connection and the clock."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from flask import Flask

from shared.clock import FixedClock
from shared.http.context import EXTENSION, clock, reading, service_context, unit_of_work, units_of_work


class FakeUnits:
    """A unit-of-work factory that records what was opened."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    @contextmanager
    def __call__(self):
        self.opened.append("write")
        yield "uow"

    @contextmanager
    def read(self):
        self.opened.append("read")
        yield "read-uow"


class FakeEngine:
    @contextmanager
    def connect(self):
        yield "conn"


def app_with(**context) -> Flask:
    app = Flask("t")
    app.extensions[EXTENSION] = SimpleNamespace(**context)
    return app


def test_accessors_read_the_apps_context() -> None:
    units = FakeUnits()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    app = app_with(units_of_work=units, engine=FakeEngine(), clock=FixedClock(at))
    with app.app_context():
        assert service_context().units_of_work is units
        with unit_of_work() as uow:
            assert uow == "uow"
        with units_of_work().read() as uow:
            assert uow == "read-uow"
        with reading() as conn:
            assert conn == "conn"
        assert clock().now() == at
    assert units.opened == ["write", "read"]


def test_an_app_without_tables_says_so() -> None:
    with app_with(units_of_work=None).app_context(), pytest.raises(RuntimeError, match="tables="):
        unit_of_work()
