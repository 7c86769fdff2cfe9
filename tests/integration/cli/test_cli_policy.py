"""`touchpoint policy show|put|patch` and `touchpoint forecast` against a real channels service on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.channels.service import build_definition
from shared.clock import ManualClock
from tests.support import ServiceHarness, served, unique_namespace
from tools.cli import main

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday, 13:00 in Amsterdam
POLICY = {"caps": [{"id": "weekly", "limit": 2, "window_seconds": 7 * 86400, "scope": "all", "scope_value": None}],
          "min_marketing_gap_seconds": 3600, "opt_in_channels": ["email"],
          "quiet_hours": {"sms": [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "20:00"}]},
          "control_group": {"percent": 5, "salt": "cli"},
          "capacity": [{"id": "calls-daily", "channel": "call", "category": None, "limit": 2, "window": "day",
                        "time_zone": "Europe/Amsterdam", "when_full": "defer"}]}


@pytest.fixture(scope="module")
def channels(auth_database_url, api_keys, amqp_url):
    """The channels API (no worker needed: policy and forecast are HTTP reads and writes), on a loopback port."""
    harness = ServiceHarness(build_definition(ManualClock(AT)), unique_namespace("tpclipol"), auth_database_url,
                             api_keys, amqp_url=amqp_url, database_name="cli_policy")
    with served(harness.app) as url:
        yield harness, url
    harness.close()


@pytest.fixture
def cli(channels, monkeypatch):
    """Run `touchpoint` against the served channels app; the key of `role` (operator by default)."""
    harness, url = channels
    monkeypatch.setenv("TOUCHPOINT_CHANNELS_URL", url)

    def run(*argv: str, role: str = "operator") -> int:
        return main(["--key", harness.api_keys[role], *argv])

    return run


def _write(tmp_path, name: str, body: object) -> str:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(path)


def test_put_show_and_patch_the_policy(cli, channels, tmp_path, capsys):
    harness, _ = channels
    assert cli("policy", "put", _write(tmp_path, "policy.json", POLICY)) == 0
    out = capsys.readouterr().out
    assert out.startswith("saved policy version ")
    assert cli("policy", "show", role="marketer") == 0
    shown = capsys.readouterr().out
    assert "weekly  2      7d      all" in shown
    assert "marketing gap: 1h" in shown
    assert "quiet hours (send windows): sms Mon,Tue,Wed,Thu,Fri 09:00-20:00" in shown
    assert "opt-in channels: email" in shown
    assert "control group: 5 % of contacts (salt 'cli')" in shown
    assert "calls-daily  call     service+marketing  2      day     Europe/Amsterdam  defer" in shown

    # show --json is the document; with an edit it goes back through put (its `version` is ignored).
    assert cli("policy", "show", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    document["capacity"][0]["limit"] = 150
    assert cli("policy", "put", _write(tmp_path, "edited.json", document)) == 0
    capsys.readouterr()
    assert harness.get("/policy", role="operator").get_json()["capacity"][0]["limit"] == 150

    # patch: inline JSON or a file; control group and capacity are members like any other.
    assert cli("policy", "patch", '{"control_group": {"percent": 10}}') == 0
    assert "control group: 10 % of contacts (salt 'cli')" in capsys.readouterr().out
    assert cli("policy", "patch", _write(tmp_path, "patch.json", {"capacity": [], "control_group": None})) == 0
    out = capsys.readouterr().out
    assert "control group: off" in out and "capacity: none" in out
    saved = harness.get("/policy", role="operator").get_json()
    assert saved["capacity"] == [] and saved["control_group"] is None and saved["caps"] == POLICY["caps"]


def test_bad_policy_input_is_a_clear_error(cli, channels, tmp_path, capsys):
    harness, _ = channels
    before = harness.get("/policy", role="operator").get_json()
    assert cli("policy", "put", _write(tmp_path, "broken.json", '{"caps": [')) == 1
    assert capsys.readouterr().err.startswith("error: broken.json is not valid JSON")
    assert cli("policy", "put", str(tmp_path / "missing.json")) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli("policy", "patch", '{"control_group": ') == 1
    assert "the patch is not valid JSON" in capsys.readouterr().err
    assert cli("policy", "put", _write(tmp_path, "list.json", [1, 2])) == 1
    assert "must hold one policy document" in capsys.readouterr().err

    incomplete = {k: v for k, v in POLICY.items() if k != "capacity"}
    assert cli("policy", "put", _write(tmp_path, "incomplete.json", incomplete)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "  capacity: " in err  # the problem's field errors, one per line
    assert cli("policy", "patch", '{"capacity": [{"id": "x"}]}') == 1
    assert "capacity" in capsys.readouterr().err
    open_gate = {**POLICY, "caps": [], "min_marketing_gap_seconds": None, "quiet_hours": {}, "opt_in_channels": [],
                 "control_group": None, "capacity": []}
    assert cli("policy", "put", _write(tmp_path, "open.json", open_gate)) == 1
    assert "allow_empty" in capsys.readouterr().err
    assert cli("policy", "patch", '{"caps": []}', role="marketer") == 1  # only operators change the policy
    assert capsys.readouterr().err.startswith("error: ")
    assert harness.get("/policy", role="operator").get_json() == before  # nothing changed

    assert cli("policy", "put", "--allow-empty", _write(tmp_path, "open.json", open_gate)) == 0
    assert "caps: none" in capsys.readouterr().out
    assert cli("policy", "put", _write(tmp_path, "policy.json", POLICY)) == 0


def test_forecast_of_one_message(cli, tmp_path, capsys):
    assert cli("policy", "put", _write(tmp_path, "policy.json", POLICY)) == 0
    capsys.readouterr()
    request = {"message": {"channel": "call", "category": "service", "campaign_id": "c", "step_id": "call-1",
                           "priority": 0, "topic": None, "expires_at": None},
               "contacts": [{"contact_id": f"k{i}", "time_zone": "Europe/Amsterdam"} for i in range(3)]}
    path = _write(tmp_path, "forecast.json", request)
    assert cli("forecast", path, "--at", AT.isoformat(), role="marketer") == 0
    out = capsys.readouterr().out
    assert out.startswith("3 contacts as the gate would decide at 2026-03-04T12:00:00")
    assert "deferred 1, duplicate 0, expired 0, send 2" in out
    assert "deferred  capacity  calls-daily  1" in out
    assert 'capacity taken: {"calls-daily":2}' in out
    assert cli("forecast", path, "--json") == 0
    assert json.loads(capsys.readouterr().out)["by_outcome"]["send"] == 2

    assert cli("forecast", _write(tmp_path, "bad.json", {**request, "contacts": []})) == 1
    assert "contacts" in capsys.readouterr().err
    assert cli("forecast", _write(tmp_path, "bad.json", "not json")) == 1
    assert "is not valid JSON" in capsys.readouterr().err
