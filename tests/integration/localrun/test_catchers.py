"""The local run's mail catcher and SMS gateway stub, for real on loopback, read back through the CLI.

They need no broker and no database: real SMTP and HTTP servers, the real channel adapters (and
smtplib / requests) sending to them, and `touchpoint mail|sms list|show` reading what they stored.
"""

from __future__ import annotations

import json
import smtplib
import socket
from email.message import EmailMessage

import pytest
import requests

from services.channels.adapters.base import Recipient, RenderedMessage
from services.channels.adapters.sms import SmsGatewayAdapter
from services.channels.adapters.smtp import SmtpAdapter
from tools.catchers.mail import start_mail_catcher
from tools.catchers.sms import start_sms_stub
from tools.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def catchers(tmp_path, monkeypatch):
    """Both catchers on free loopback ports, storing under tmp_path (also the CLI's run dir)."""
    monkeypatch.setenv("TOUCHPOINT_RUN_DIR", str(tmp_path))
    mail = start_mail_catcher(tmp_path / "mail", _free_port())
    sms = start_sms_stub(tmp_path / "sms", _free_port())
    yield mail.port, sms.server_address[1], tmp_path
    sms.shutdown()
    sms.server_close()
    mail.stop()


def _message(request_id: str, channel: str, **content: str) -> RenderedMessage:
    return RenderedMessage(request_id, "c1", channel, "marketing", content,
                           Recipient(email="ann@example.test", phone="+15550002", first_name="Ann", last_name="Lee"))


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_emails_from_the_smtp_adapter_are_stored_and_readable(catchers, capsys):
    mail_port, _, run_dir = catchers
    adapter = SmtpAdapter("email", {"port": mail_port, "sender": "news@tp.test"})
    try:
        assert adapter.send(_message("cmp:1:welcome", "email", subject="Hello $first_name",
                                     body="Welcome, $first_name!", html="<p>Welcome</p>")).status == "sent"
        assert adapter.send(_message("r2", "email", subject="Second", body="Two")).status == "sent"
    finally:
        adapter.close()
    code, out = _cli(capsys, "mail", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].split()[0] == "2" and lines[0].endswith("Second")  # newest first
    assert "Ann Lee <ann@example.test>" in lines[1] and lines[1].endswith("Hello Ann")
    code, out = _cli(capsys, "mail", "show", "1")
    assert code == 0
    assert "Subject: Hello Ann" in out and "X-Touchpoint-Request-Id: cmp:1:welcome" in out
    assert "Welcome, Ann!" in out and str(run_dir / "mail" / "000001.eml") in out
    assert (run_dir / "mail" / "000001.eml").read_bytes().startswith(b"From: news@tp.test")
    code, out = _cli(capsys, "mail", "show", "000002", "--raw")
    assert code == 0 and "Message-ID: <r2@touchpoint>" in out
    code, out = _cli(capsys, "mail", "list", "--json", "--limit", "1")
    assert json.loads(out)["rcpt_to"] == ["ann@example.test"]


def test_smtplib_message_and_ids_continue_after_a_restart(catchers, capsys):
    mail_port, _, run_dir = catchers
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = "a@tp.test", "b@tp.test", "Plain"
    email.set_content("just text")
    with smtplib.SMTP("127.0.0.1", mail_port) as smtp:
        assert smtp.send_message(email) == {}
    again = start_mail_catcher(run_dir / "mail", _free_port())  # a second run over the same folder
    try:
        with smtplib.SMTP("127.0.0.1", again.port) as smtp:
            smtp.send_message(email)
    finally:
        again.stop()
    assert [line.split()[0] for line in _cli(capsys, "mail", "list")[1].splitlines()] == ["2", "1"]


def test_sms_from_the_gateway_adapter_are_stored_and_readable(catchers, capsys):
    _, sms_port, run_dir = catchers
    adapter = SmsGatewayAdapter("sms", {"url": f"http://127.0.0.1:{sms_port}/messages", "sender": "TP"})
    try:
        first = adapter.send(_message("req-1", "sms", text="Hi $first_name, your offer"))
        repeat = adapter.send(_message("req-1", "sms", text="Hi $first_name, your offer"))
        assert first.status == repeat.status == "sent" and first.provider_id == repeat.provider_id == "1"
    finally:
        adapter.close()
    assert adapter.send(_message("req-2", "sms", text="x")).status == "sent"
    code, out = _cli(capsys, "sms", "list")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["2", "1"]  # the repeat stored once
    assert "+15550002" in out and "Hi Ann, your offer" in out
    code, out = _cli(capsys, "sms", "show", "1")
    assert code == 0 and "To: +15550002" in out and "From: TP" in out and "Reference: req-1" in out
    assert out.rstrip().endswith("Hi Ann, your offer") and str(run_dir / "sms" / "000001.json") in out


def test_sms_stub_refuses_what_a_gateway_would(catchers):
    _, sms_port, _ = catchers
    url = f"http://127.0.0.1:{sms_port}/messages"
    assert requests.post(url, json={"to": "+1555"}, timeout=5).status_code == 400
    assert requests.post(url, data=b"not json", timeout=5).status_code == 400
    assert requests.get(f"http://127.0.0.1:{sms_port}/healthz", timeout=5).status_code == 200
    assert requests.get(url, timeout=5).json() == {"items": []}


def test_unknown_ids_and_empty_folders_answer_clearly(catchers, capsys, tmp_path):
    assert _cli(capsys, "mail", "list")[1].startswith("no mail in ")
    assert main(["sms", "show", "7"]) == 1
    assert "no sms with id 7" in capsys.readouterr().err
    assert main(["mail", "--dir", str(tmp_path / "nowhere"), "show", "x"]) == 1
