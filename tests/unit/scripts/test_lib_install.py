"""scripts/lib.sh installs what is missing from Debian's packages, starts the servers, or says how.

Every command it would run is a PATH shim of tests/unit/scripts/machine.py that records its call;
nothing is installed or started for real.
"""

from __future__ import annotations

import pytest

from tests.unit.scripts.machine import FakeMachine, environ_has_bash

pytestmark = pytest.mark.skipif(not environ_has_bash(), reason="scripts/lib.sh is bash")

EVERYTHING = ("python3-venv", "rabbitmq-server", "postgresql", "docker-compose", "chromium", "chromium-driver")
SERVERS = ("pg_createcluster", "pg_ctlcluster", "rabbitmq-server", "rabbitmq-plugins")


def machine(tmp_path, **kwargs) -> FakeMachine:
    return FakeMachine(tmp_path / "machine", **kwargs)


def test_nothing_missing_runs_no_apt_get_and_no_sudo(tmp_path):
    box = machine(tmp_path, installed=EVERYTHING, sudo="nopass", ports=(5432, 5672), commands=SERVERS)
    (box.state / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
    result = box.run("ensure_system_packages test; ensure_postgres; ensure_rabbitmq; echo ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert box.apt() == []
    # one dpkg question and the AMQP probe (the virtualenv's python), nothing else
    assert [call.split()[0] for call in box.calls()] == ["dpkg-query", "venv-python"]


def test_as_root_installs_only_what_is_missing_after_one_update(tmp_path):
    box = machine(tmp_path, installed=("python3-venv", "chromium"))
    result = box.run("ensure_system_packages test")
    assert result.returncode == 0, result.stderr
    missing = "rabbitmq-server postgresql docker-compose chromium-driver"
    assert box.apt() == [
        "DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        f"DEBIAN_FRONTEND= apt-get install -s --no-install-recommends {missing}",
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {missing}",
    ]
    assert "sudo" not in " ".join(box.calls())
    assert box.run("ensure_system_packages test").returncode == 0
    assert len(box.apt()) == 3  # the second run finds everything: idempotent, no apt-get at all


def test_up_needs_only_the_servers_and_the_venv_module(tmp_path):
    box = machine(tmp_path, venv=False)
    assert box.run("missing_packages up").stdout.split() == ["python3-venv", "rabbitmq-server", "postgresql"]
    assert box.run("missing_packages test").stdout.split() == list(EVERYTHING)


def test_a_user_with_passwordless_sudo_installs_through_sudo_n(tmp_path):
    box = machine(tmp_path, uid=1000, sudo="nopass", installed=("python3-venv", "postgresql"))
    result = box.run("ensure_system_packages up")
    assert result.returncode == 0, result.stderr
    sudo_calls = [call for call in box.calls() if call.startswith("sudo")]
    assert sudo_calls[-2:] == [
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server",
    ]
    assert "rabbitmq-server" in box.installed()


@pytest.mark.parametrize("sudo", [None, "password"])
def test_without_root_or_sudo_it_prints_the_exact_commands_and_stops(tmp_path, sudo):
    box = machine(tmp_path, uid=1000, sudo=sudo, installed=("python3-venv",))
    result = box.run("ensure_system_packages up; echo went-on")
    assert result.returncode == 1 and "went-on" not in result.stdout
    assert "  sudo apt-get update\n" in result.stderr
    assert "  sudo apt-get install -y --no-install-recommends rabbitmq-server postgresql\n" in result.stderr
    assert box.apt() == []


def test_off_debian_it_names_the_packages_and_stops(tmp_path):
    box = machine(tmp_path, os_id="fedora", venv=False)
    result = box.run("ensure_system_packages up")
    assert result.returncode == 1
    assert "missing: python3-venv rabbitmq-server postgresql" in result.stderr and "not Debian" in result.stderr
    assert box.apt() == []


def test_ubuntu_counts_as_debian(tmp_path):
    box = machine(tmp_path, os_id="ubuntu", installed=("python3-venv", "postgresql"))
    (box.state / "os-release").write_text("ID=ubuntu\nID_LIKE=debian\n")
    assert box.run("ensure_system_packages up").returncode == 0
    assert box.installed()[-1] == "rabbitmq-server"


def test_it_never_installs_postfix(tmp_path):
    box = machine(tmp_path, installed=("python3-venv", "rabbitmq-server"))
    (box.state / "pulls-postfix").touch()
    result = box.run("ensure_system_packages up")
    assert result.returncode == 1 and "postfix" in result.stderr
    assert not any(" -y " in call for call in box.apt())  # simulated only


def test_servers_reachable_or_commands_present_count_as_installed(tmp_path):
    # RabbitMQ in a container on 5672, PostgreSQL from elsewhere with pg_ctlcluster on PATH, no dpkg record.
    box = machine(tmp_path, ports=(5672,), commands=("pg_ctlcluster", "docker-compose", "chromium", "chromedriver"))
    assert box.run("missing_packages test").stdout.split() == []


def test_a_fresh_postgresql_gets_a_cluster_local_trust_and_is_started(tmp_path):
    box = machine(tmp_path, commands=SERVERS, pg_versions=("13", "15"))
    result = box.run("ensure_postgres")
    assert result.returncode == 0, result.stderr
    assert [c for c in box.calls() if c.startswith("pg_")] == [
        "pg_createcluster 15 main", "pg_ctlcluster --skip-systemctl-redirect 15 main start"]
    hba = (box.pg_etc / "15" / "main" / "pg_hba.conf").read_text().splitlines()
    assert hba[0].startswith("host all postgres 127.0.0.1/32 trust") and hba[1] == "local all postgres peer"
    calls = box.calls()
    assert box.run("ensure_postgres").returncode == 0 and box.calls() == calls  # running: nothing to do


def test_a_stopped_existing_cluster_is_started_and_its_auth_left_alone(tmp_path):
    box = machine(tmp_path, commands=SERVERS, pg_versions=("15",), clusters=("15",))
    assert box.run("ensure_postgres").returncode == 0
    assert [c for c in box.calls() if c.startswith("pg_")] == ["pg_ctlcluster --skip-systemctl-redirect 15 main start"]
    assert (box.pg_etc / "15" / "main" / "pg_hba.conf").read_text() == "host all all 127.0.0.1/32 scram-sha-256\n"


def test_postgresql_installed_just_now_gets_local_trust_and_a_reload(tmp_path):
    box = machine(tmp_path, commands=SERVERS, pg_versions=("15",), clusters=("15",), ports=(5432,))
    assert box.run("TOUCHPOINT_NEW_POSTGRES=1 ensure_postgres").returncode == 0
    assert (box.pg_etc / "15" / "main" / "pg_hba.conf").read_text().startswith("host all postgres 127.0.0.1/32 trust")
    assert box.calls()[-1] == "pg_ctlcluster --skip-systemctl-redirect 15 main reload"


def test_without_root_a_cluster_it_cannot_create_is_explained(tmp_path):
    box = machine(tmp_path, uid=1000, commands=("pg_ctlcluster",), pg_versions=("15",))
    (box.bin / "pg_createcluster").write_text(f"#!{box.bin / 'bash'}\nexit 1\n")
    (box.bin / "pg_createcluster").chmod(0o755)
    result = box.run("ensure_postgres")
    assert result.returncode == 1 and "as root, run:  pg_createcluster 15 main" in result.stderr


def test_rabbitmq_is_started_and_the_consistent_hash_plugin_enabled(tmp_path):
    box = machine(tmp_path, commands=SERVERS, uid=1000, sudo="nopass")
    result = box.run("ensure_rabbitmq")
    assert result.returncode == 0, result.stderr
    calls = box.calls()
    assert "sudo -n rabbitmq-server -detached" in calls
    assert "rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange" in calls
    assert not any("rabbitmq_management" in call for call in calls)


def test_for_the_tests_the_management_plugin_is_enabled_too_in_one_call(tmp_path):
    box = machine(tmp_path, commands=SERVERS, ports=(5672,))
    result = box.run("ensure_rabbitmq test")
    assert result.returncode == 0, result.stderr
    assert "rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange rabbitmq_management" in box.calls()


def test_plugins_named_in_the_plugins_file_cost_no_rabbitmq_plugins_call(tmp_path):
    box = machine(tmp_path, commands=SERVERS, ports=(5672,))
    (box.state / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange,rabbitmq_management_agent].\n")
    result = box.run("ensure_rabbitmq test")
    assert result.returncode == 0, result.stderr
    plugin_calls = [call for call in box.calls() if call.startswith("rabbitmq-plugins")]
    # the agent alone is not the management plugin (no HTTP API): only that one is enabled
    assert plugin_calls == ["rabbitmq-plugins -q is_enabled rabbitmq_management",
                            "rabbitmq-plugins -q enable rabbitmq_management"]
    (box.state / "enabled_plugins").write_text("[rabbitmq_management,rabbitmq_consistent_hash_exchange].\n")
    before = len(box.calls())
    assert box.run("ensure_rabbitmq test").returncode == 0
    assert not any(call.startswith("rabbitmq-plugins") for call in box.calls()[before:])


def test_no_server_at_all_names_the_package(tmp_path):
    box = machine(tmp_path)
    result = box.run("ensure_rabbitmq")
    assert result.returncode == 1 and "apt-get install rabbitmq-server" in result.stderr
