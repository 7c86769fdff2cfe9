"""Counting smtp-sink's dump by Message-ID, and the delay proxy's end-of-data test."""

from bench.sinks import Arrivals, DumpParser
from bench.smtp_delay import ends_data

DUMP = (b"X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: vm\nX-Mail-Args: <bench@touchpoint>\n"
        b"X-Rcpt-Args: <Broadcast1@Example.com> NOTIFY=NEVER\nReceived: from vm ([127.0.0.1])\n"
        b"\tby smtp-sink (smtp-sink) with ESMTP id 1;\n\tWed,  2 Dec 2026 00:38:25 +0000 (UTC)\n"
        b"Subject: Hello\nMessage-ID: <cmp-1.mail.c1@touchpoint>\nContent-Type: text/plain\n\n"
        b"Our news.\nMessage-ID: <not-a-header@body>\n\n"
        b"X-Client-Addr: 127.0.0.1\nX-Rcpt-Args: <b2@example.com>\nSubject: no id\n\nbody\n\n")


def test_parser_reads_recipient_and_message_id_of_each_message():
    assert DumpParser().feed(DUMP) == [("broadcast1@example.com", "cmp-1.mail.c1@touchpoint"),
                                       ("b2@example.com", "")]


def test_parser_takes_the_dump_in_any_pieces():
    for size in (1, 7, 100):
        parser = DumpParser()
        found = []
        for i in range(0, len(DUMP), size):
            found += parser.feed(DUMP[i:i + size])
        assert [m for _, m in found] == ["cmp-1.mail.c1@touchpoint", ""]


def test_arrivals_count_each_message_id_once_and_show_duplicates():
    arrivals = Arrivals()
    arrivals.add([("a@x", "m1"), ("b@x", "m2")], at=1.0)
    arrivals.add([("a@x", "m1"), ("c@x", "")], at=2.0)
    assert arrivals.count == 4
    assert arrivals.times == [1.0, 1.0, 2.0, 2.0]
    assert arrivals.exactly_once() == {"messages": 4, "distinct": 3, "duplicated_ids": 1, "without_id": 1}


def test_end_of_data_across_chunks():
    assert ends_data(b"", b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert ends_data(b"ody\r\n", b".\r\n")
    assert not ends_data(b"", b"MAIL FROM:<a@b>\r\n")
    assert not ends_data(b"", b"..\r\n")
