"""Summing py-spy's collapsed stacks into inclusive and self shares per function."""

from bench.hotspots import frame_name, parse_collapsed, shares

RAW = """\
process 1:"python -m services.channels worker";thread (0x7f01);run (services/channels/delivery.py:80);send (services/channels/adapters/smtp.py:90);getreply (smtplib.py:398) 6
process 1:"python -m services.channels worker";thread (0x7f01);run (services/channels/delivery.py:81);_lease (services/channels/delivery.py:120);wait (psycopg/connection.py:950) 3
process 1:"python -m services.channels worker";thread (0x7f02);__call__ (services/channels/gate.py:40);wait (psycopg/connection.py:950) 1
not a stack line
"""


def test_line_numbers_are_folded_away():
    assert frame_name("run (services/channels/delivery.py:80)") == "run (services/channels/delivery.py)"
    assert frame_name("thread (0x7f01)") == "thread (0x7f01)"


def test_inclusive_counts_a_function_once_per_stack_and_self_counts_the_leaf():
    stacks = parse_collapsed(RAW)
    assert len(stacks) == 3
    total, inclusive, own = shares(stacks)
    assert total == 10
    assert inclusive["run (services/channels/delivery.py)"] == 9  # two lines of one function: one row
    assert inclusive["wait (psycopg/connection.py)"] == 4
    assert own["getreply (smtplib.py)"] == 6
    assert own["wait (psycopg/connection.py)"] == 4
