"""docker-compose.yml validates without a Docker engine and runs every service safely at scale."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.support import REPO

SERVICES = ("contacts", "campaigns", "channels", "scheduler")
ENV = {**os.environ, "RABBITMQ_PASSWORD": "example", "POSTGRES_PASSWORD": "example", "CONSOLE_SECRET_KEY": "example"}


def _config() -> dict:
    out = subprocess.run(["docker-compose", "config"], cwd=REPO, env=ENV, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


@pytest.fixture(scope="module")
def compose() -> dict:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed; scripts/test installs it (apt-get install docker-compose)")
    return _config()


def test_compose_file_validates(compose):
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_secrets_are_required_not_committed():
    env = {k: v for k, v in os.environ.items() if k not in ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD")}
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "RABBITMQ_PASSWORD" in (result.stderr + result.stdout)


def test_every_service_has_an_api_and_a_scalable_worker(compose):
    services = compose["services"]
    for name in SERVICES:
        api, worker = services[f"{name}-api"], services[f"{name}-worker"]
        assert "healthcheck" in api
        assert worker["command"][-1] == "worker"
        # scaling with --scale needs no fixed container name and no host port
        assert "container_name" not in worker and not worker.get("ports")
        assert worker["restart"] == "unless-stopped"


def test_the_console_talks_to_the_apis_only(compose):
    console = compose["services"]["console"]
    assert "services.console:create_app()" in console["command"] and "healthcheck" in console
    env = console["environment"]
    assert {env[f"TOUCHPOINT_{name.upper()}_URL"] for name in SERVICES} == {
        f"http://{name}-api:8000" for name in SERVICES}
    assert not any(key.endswith("DATABASE_URL") or key == "AMQP_URL" for key in env)


def test_broker_has_the_consistent_hash_plugin():
    plugins = (REPO / "deploy" / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_consistent_hash_exchange" in plugins and "rabbitmq_management" in plugins
