"""The local run's bookkeeping without starting it: adapters config, pid file, down when nothing runs."""

from __future__ import annotations

import json
import os

from tools import localrun
from tools.catchers.store import CaughtMessages
from tools.cli import build_parser


def test_local_adapters_send_email_and_sms_to_the_catchers_only():
    config = json.loads(localrun.local_adapters(2600, 9100))
    assert config["email"] == {"adapter": "smtp", "host": "127.0.0.1", "port": 2600}
    assert config["sms"] == {"adapter": "sms_gateway", "url": "http://127.0.0.1:9100/messages"}
    assert config["call"] == {"adapter": "call_center"} and config["web"] == {"adapter": "web_offers"}
    assert localrun.catcher_ports({}) == (2525, 9090)
    assert localrun.catcher_ports({"TOUCHPOINT_MAIL_PORT": "1", "TOUCHPOINT_SMS_PORT": "2"}) == (1, 2)


def test_down_with_nothing_running_and_a_stale_pid_file(tmp_path, capsys):
    assert localrun.stop(tmp_path) == 0
    assert "no local run is running" in capsys.readouterr().out
    (tmp_path / "up.pid").write_text(f"{os.getpid()}\n")  # alive, but pytest, not tools.devrun
    assert localrun.running_pid(tmp_path) is None and not (tmp_path / "up.pid").exists()
    (tmp_path / "up.pid").write_text("not a pid\n")
    assert localrun.stop(tmp_path) == 0


def test_claim_and_release_leave_no_files_behind(tmp_path):
    localrun.claim(tmp_path)
    assert (tmp_path / "up.pid").read_text().strip() == str(os.getpid())
    localrun.mark_ready(tmp_path, "summary")
    (tmp_path / "up.pid").write_text("1\n")  # someone else's (init is no devrun): not ours to remove
    localrun.release(tmp_path)
    assert (tmp_path / "up.ready").exists()


def test_caught_messages_number_on_and_skip_a_torn_index_line(tmp_path):
    box = CaughtMessages(tmp_path, ".eml")
    assert box.add(b"one", {"subject": "a"}) == "1"
    with (tmp_path / "index.jsonl").open("a") as index:
        index.write('{"id": "2", "fi')  # a writer killed mid-line
    assert [entry["id"] for entry in box.entries()] == ["1"]
    assert CaughtMessages(tmp_path, ".eml").get("000001")[1] == b"one"
    assert box.add(b"two", {"subject": "b"}) == "2"
    assert [entry["subject"] for entry in box.entries()] == ["a", "b"]
    assert box.add(b"three", {}) == "3" and len((tmp_path / "index.jsonl").read_text().splitlines()) == 4


def test_mail_and_sms_commands_parse():
    parser = build_parser()
    args = parser.parse_args(["mail", "show", "3", "--raw"])
    assert (args.command, args.mail_command, args.id, args.raw) == ("mail", "show", "3", True)
    args = parser.parse_args(["sms", "--dir", "/tmp/x", "list", "--limit", "5"])
    assert (args.sms_command, str(args.dir), args.limit) == ("list", "/tmp/x", 5)
