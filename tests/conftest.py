"""Fixtures shared by every test: the real broker and database, fail loudly when absent."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pika
import psycopg
import pytest

from shared.auth.keys import MIGRATIONS_DIR as AUTH_MIGRATIONS
from shared.auth.keys import ApiKeyStore
from shared.db.engine import make_engine
from shared.messaging.connection import connect
from shared.messaging.topology import Topology
from tests.support import AMQP_URL, PG_ROOT, BrokerAdmin, broker_vhost, fresh_database, unique_namespace

# Tests that start the whole system as processes (or the local runner) share one xdist worker, so a
# parallel run holds at most one such system and stays inside PostgreSQL's 100 connections.
PROCESS_HEAVY = ("tests/e2e/", "tests/integration/localrun/test_up_down.py", "tests/integration/edge/test_servers.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test an xdist group: its module (module fixtures start once), or the process-heavy group;
    skip the tests that restart the broker when TOUCHPOINT_SKIP_FAULTS asks."""
    skip_restarts = pytest.mark.skip(
        reason="TOUCHPOINT_SKIP_FAULTS is set (this test restarts RabbitMQ; skipped while others share the broker)")
    for item in items:
        if os.environ.get("TOUCHPOINT_SKIP_FAULTS") and item.get_closest_marker("restarts_broker"):
            item.add_marker(skip_restarts)
        path = item.nodeid.split("::", 1)[0]
        group = "process-heavy" if path.startswith(PROCESS_HEAVY) else path
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _drop_this_runs_databases():
    """After the session, drop every database this run created (touchpoint_test_<run>_*)."""
    yield
    from tests.support import DATABASE_PREFIX

    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            names = [row[0] for row in conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (DATABASE_PREFIX,))]
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.OperationalError as exc:  # the server is gone; the tests have said so already
        warnings.warn(f"could not drop this run's test databases: {exc}", stacklevel=1)


@pytest.fixture(scope="session", autouse=True)
def _drop_this_runs_vhosts():
    """After the session, delete any vhost of this run a module could not delete itself."""
    yield
    from tests.support import undeleted_vhosts

    try:
        for name in sorted(undeleted_vhosts):
            BrokerAdmin().delete_vhost(name)
    except Exception as exc:  # the broker is gone (or was never there); the tests have said so already
        warnings.warn(f"could not delete this run's test vhosts: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def broker() -> str:
    """The broker's URL (its own vhost, which tests do not use), after checking the broker answers."""
    try:
        connect(AMQP_URL, client_name="pytest-probe", timeout=10).close()
    except Exception as exc:  # a missing broker must stop the run with a clear message
        pytest.fail(f"RabbitMQ at {AMQP_URL} is not reachable ({exc}); run .ci/run or start it", pytrace=False)
    return AMQP_URL


@pytest.fixture(scope="module")
def amqp_url(request: pytest.FixtureRequest, broker: str) -> Iterator[str]:
    """The AMQP URL of this test module's own vhost, `touchpoint_test_<run>_<module>`, deleted after the module.

    Harnesses, workers and helpers (`tests.support.current_amqp_url()`) use it, so nothing a module
    declares or leaves in a queue reaches another module.
    """
    with broker_vhost(request.module.__name__.removeprefix("tests.")) as url:
        yield url


@pytest.fixture(scope="session")
def pg_root() -> str:
    """The PostgreSQL server URL (without database), after checking it answers."""
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=10):
            pass
    except Exception as exc:  # a missing database must stop the run with a clear message
        pytest.fail(f"PostgreSQL at {PG_ROOT} is not reachable ({exc}); run .ci/run or start it", pytrace=False)
    return PG_ROOT


@pytest.fixture
def topology(amqp_url: str):
    """A throwaway broker namespace in the module's vhost, deleted after the test."""
    topo = Topology(unique_namespace())
    yield topo
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        topo.teardown(connection.channel())
    finally:
        connection.close()


@pytest.fixture(scope="session")
def auth_database_url(pg_root: str):
    """A migrated auth database of this run alone (concurrent runs must not drop each other's keys)."""
    from shared.db.engine import drop_database

    url = fresh_database("auth", AUTH_MIGRATIONS)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def key_store(auth_database_url: str) -> ApiKeyStore:
    """The API key store of the test auth database."""
    return ApiKeyStore(make_engine(auth_database_url, pool_size=2), cache_seconds=0)


@pytest.fixture(scope="session")
def api_keys(key_store: ApiKeyStore) -> dict[str, str]:
    """One key text per role."""
    return {role: key_store.create(f"test-{role}", role)[1]
            for role in ("marketer", "channel_owner", "agent", "operator", "ingest")}


@pytest.fixture(scope="module")
def broker_namespace(amqp_url: str) -> str:
    """The broker namespace of a module's services: the default one, alone in the module's vhost."""
    return "touchpoint"
