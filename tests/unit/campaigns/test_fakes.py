"""The in-memory fakes answer the same calls as the repositories they stand in for.

A fake method whose name or parameters drifted from the real repository would let a handler test
pass against a call the real unit of work cannot answer.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from services.campaigns.repository import (
    BroadcastRuns,
    CampaignStore,
    ContactProjection,
    EnrollmentStore,
    ReportQueries,
    SendLog,
    TemplateStore,
)
from services.campaigns.unit_of_work import CampaignsUnitOfWork
from tests.unit.campaigns import fakes

PAIRS = [(fakes.FakeCampaignStore, CampaignStore), (fakes.FakeTemplateStore, TemplateStore),
         (fakes.FakeEnrollmentStore, EnrollmentStore), (fakes.FakeSendLog, SendLog),
         (fakes.FakeContactProjection, ContactProjection), (fakes.FakeBroadcastRuns, BroadcastRuns),
         (fakes.FakeReportQueries, ReportQueries)]
TEST_HELPERS = {"add_campaign"}  # arranges a test's data; the real store is filled through the API


@pytest.mark.parametrize(("fake", "real"), PAIRS, ids=lambda c: c.__name__)
def test_every_fake_method_is_a_repository_method_with_the_same_parameters(fake: type, real: type) -> None:
    for name, method in inspect.getmembers(fake, inspect.isfunction):
        if name.startswith("_") or name in TEST_HELPERS:
            continue
        assert hasattr(real, name), f"{real.__name__} has no {name}"
        assert list(inspect.signature(method).parameters) == list(inspect.signature(getattr(real, name)).parameters)


def test_the_fake_unit_of_work_has_the_real_ones_repositories() -> None:
    real = CampaignsUnitOfWork(SimpleNamespace(conn=None))
    repositories = {name for name in vars(real) if name != "outbox"}
    assert {name for name in repositories if not hasattr(fakes.FakeUnitOfWork(), name)} == set()
