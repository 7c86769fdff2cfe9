"""`touchpoint dlq list` reads the dead-letter queues of the deployment's own vhost (AMQP_URL)."""

from __future__ import annotations

import shutil

import pika
import pytest

from tools.cli import main

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl, as the command does")
def test_dlq_list_counts_the_dead_letters_of_the_vhost_in_amqp_url(amqp_url, monkeypatch, capsys):
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        channel.queue_declare("cli-test.work.dead", durable=True)
        for body in (b"one", b"two"):
            channel.basic_publish("", "cli-test.work.dead", body)
        channel.queue_declare("cli-test.other.dead", durable=True)  # empty: not listed
    monkeypatch.setenv("AMQP_URL", amqp_url)
    assert main(["dlq", "list"]) == 0
    assert capsys.readouterr().out.split() == ["2", "cli-test.work.dead"]
