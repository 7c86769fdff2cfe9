"""The CLI against a real contacts service on a loopback port (real RabbitMQ and PostgreSQL)."""

from __future__ import annotations

import pytest

from services.contacts.service import DEFINITION
from tests.support import ServiceHarness
from tests.support import served as on_loopback
from tools.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(broker_namespace, auth_database_url, api_keys, tmp_path_factory):
    """Contacts with its worker (the import runner), its app served on 127.0.0.1 in a thread."""
    harness = ServiceHarness(DEFINITION, broker_namespace, auth_database_url, api_keys,
                             database_name="cli_contacts",
                             extra_env={"import_dir": str(tmp_path_factory.mktemp("imports"))})
    harness.start_worker()
    with on_loopback(harness.app) as url:
        yield harness, url
    harness.close()


@pytest.fixture
def cli(served, monkeypatch):
    """Run `touchpoint` against the served contacts app with the marketer key."""
    harness, url = served
    monkeypatch.setenv("TOUCHPOINT_CONTACTS_URL", url)
    monkeypatch.setenv("TOUCHPOINT_API_KEY", harness.api_keys["marketer"])
    return lambda *argv: main(list(argv))


def test_import_follows_the_job_and_prints_the_report(cli, served, tmp_path, capsys):
    csv = tmp_path / "people.csv"
    rows = ["external_id,email,first_name,time_zone,tier"]
    rows += [f"cli-{i},p{i}@example.com,P{i},Europe/Amsterdam,gold" for i in range(50)]
    rows += ["cli-bad,not-an-email,Bad,Europe/Amsterdam,gold"]
    csv.write_text("\n".join(rows) + "\n")
    assert cli("contacts", "import", str(csv)) == 0  # a done job with rejected rows is a success
    out = capsys.readouterr()
    assert "importing" in out.err  # the tqdm bar writes to stderr
    assert ": done" in out.out
    assert "created 50, updated 0, rejected 1" in out.out
    assert "row 51:" in out.out
    harness, _ = served
    found = harness.get("/contacts", query_string={"external_id": "cli-7"}, role="marketer").get_json()["items"]
    assert found[0]["attributes"]["tier"] == "gold"


def test_event_post_then_timeline(cli, served, capsys):
    harness, _ = served
    contact = harness.post("/contacts", json={"external_id": "cli-timeline", "email": "t@example.com"},
                           role="marketer").get_json()
    assert cli("event", "post", contact["id"], "withdrawal", '{"amount": 25000}') == 0
    assert "accepted 1" in capsys.readouterr().out
    assert cli("event", contact["id"], "login") == 0  # the old form still works
    capsys.readouterr()
    assert cli("contact", "timeline", contact["id"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["when", "kind", "type", "data"]
    assert [line.split()[2] for line in lines[2:]] == ["login", "withdrawal"]  # newest first
    assert '{"amount":25000}' in lines[3]
    assert cli("timeline", contact["id"], "--json") == 0
    assert '"items"' in capsys.readouterr().out


def test_problem_bodies_become_clear_errors(cli, capsys):
    assert cli("contact", "show", "no-such-contact") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert cli("--key", "wrong", "contact", "show", "x") == 1
    assert capsys.readouterr().err.startswith("error: ")
