"""The four services side by side (apps only, no workers) for tests of the shared HTTP edge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.campaigns.service import DEFINITION as CAMPAIGNS
from services.channels.service import DEFINITION as CHANNELS
from services.contacts.service import DEFINITION as CONTACTS
from services.scheduler.service import DEFINITION as SCHEDULER
from tests.support import ServiceHarness, broker_vhost

DEFINITIONS = {"contacts": CONTACTS, "campaigns": CAMPAIGNS, "channels": CHANNELS, "scheduler": SCHEDULER}


@pytest.fixture(scope="session")
def edge_services(broker, auth_database_url, api_keys, tmp_path_factory) -> Iterator[dict[str, ServiceHarness]]:
    """One harness per service on fresh databases (`edge_<name>`) and one vhost (`edge`, the edge modules
    share these harnesses); their APIs answer, no worker runs."""
    extra = {"contacts": {"import_dir": str(tmp_path_factory.mktemp("edge-imports"))}}
    with broker_vhost("edge", current=False) as amqp_url:
        harnesses = {name: ServiceHarness(definition, "touchpoint", auth_database_url, api_keys, amqp_url=amqp_url,
                                          database_name=f"edge_{name}", extra_env=extra.get(name))
                     for name, definition in DEFINITIONS.items()}
        yield harnesses
        for harness in harnesses.values():
            harness.close()


@pytest.fixture(params=list(DEFINITIONS))
def service(request, edge_services) -> ServiceHarness:
    """Each service in turn."""
    return edge_services[request.param]
