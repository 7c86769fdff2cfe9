"""Parsing /proc text and accounting CPU between two samples, without reading /proc."""

from bench.procfs import (
    CLOCK_TICKS,
    ProcStat,
    cpu_ms_between,
    parse_loadavg,
    parse_stat,
    parse_uptime_ticks,
    tree,
)

# a real line, with a command name holding a space and a parenthesis
STAT = ("4242 (gunicorn: (w) 1) S 4200 4242 4242 0 -1 4194560 5000 0 3 0 150 30 0 0 20 0 9 0 "
        "123456 300000000 25600 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0")


def stat(pid: int, ppid: int = 1, ticks: int = 0, start: int = 0, comm: str = "python") -> ProcStat:
    return ProcStat(pid=pid, comm=comm, ppid=ppid, cpu_ticks=ticks, start_ticks=start, rss_pages=0)


def test_parse_stat_reads_cpu_start_and_memory():
    parsed = parse_stat(STAT)
    assert parsed.pid == 4242 and parsed.ppid == 4200
    assert parsed.comm == "gunicorn: (w) 1"
    assert parsed.cpu_ticks == 180  # utime 150 + stime 30
    assert parsed.start_ticks == 123456
    assert parsed.rss_pages == 25600
    assert parsed.cpu_ms == 180 * 1000 / CLOCK_TICKS


def test_parse_loadavg_and_uptime():
    assert parse_loadavg("1.98 2.38 1.18 3/412 9999\n") == (1.98, 2.38, 1.18)
    assert parse_uptime_ticks("100.50 180.00\n") == int(100.5 * CLOCK_TICKS)


def test_tree_follows_children_of_children_only():
    stats = {p.pid: p for p in (stat(10, 1), stat(11, 10), stat(12, 11), stat(20, 1), stat(13, 10))}
    assert sorted(tree(stats, 10)) == [10, 11, 12, 13]
    assert tree(stats, 20) == [20]
    assert tree(stats, 99) == []


def test_cpu_between_two_samples():
    start = {1: stat(1, ticks=100, start=5), 2: stat(2, ticks=50, start=5)}
    end = {1: stat(1, ticks=160, start=5),      # +60 ticks
           2: stat(2, ticks=50, start=5),       # idle
           3: stat(3, ticks=40, start=1000),    # born after the start sample: all of it counts
           4: stat(4, ticks=70, start=10)}      # older but first seen now: none of it is ours
    assert cpu_ms_between(start, end, start_uptime_ticks=500) == 100 * 1000 / CLOCK_TICKS


def test_a_reused_pid_is_a_new_process():
    start = {7: stat(7, ticks=900, start=5)}
    end = {7: stat(7, ticks=30, start=800)}
    assert cpu_ms_between(start, end, start_uptime_ticks=700) == 30 * 1000 / CLOCK_TICKS
