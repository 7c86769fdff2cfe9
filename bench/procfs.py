"""What the benchmark reads from /proc: CPU ticks, resident memory, process trees and the load average.

The parsers are pure functions over the files' text (unit-tested without /proc); the readers around
them return None for a process that is gone, because processes come and go during a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") // 1024) if hasattr(os, "sysconf") else 4


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the benchmark uses."""

    pid: int
    comm: str
    ppid: int
    cpu_ticks: int  # utime + stime: user and system CPU of the process itself (threads included)
    start_ticks: int  # when it started, in clock ticks since boot
    rss_pages: int

    @property
    def cpu_ms(self) -> float:
        """CPU time used so far, in milliseconds."""
        return self.cpu_ticks * 1000 / CLOCK_TICKS

    @property
    def rss_mb(self) -> float:
        """Resident set size now, in MiB."""
        return self.rss_pages * PAGE_KIB / 1024


def parse_stat(text: str) -> ProcStat:
    """Parse one /proc/<pid>/stat line (the command name may hold spaces and parentheses)."""
    head, _, tail = text.rpartition(")")
    pid_text, _, comm = head.partition(" (")
    fields = tail.split()
    # fields[0] is field 3 (state) of proc(5): utime is field 14, stime 15, starttime 22, rss 24
    return ProcStat(pid=int(pid_text), comm=comm, ppid=int(fields[1]), cpu_ticks=int(fields[11]) + int(fields[12]),
                    start_ticks=int(fields[19]), rss_pages=int(fields[21]))


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages of /proc/loadavg."""
    one, five, fifteen = text.split()[:3]
    return float(one), float(five), float(fifteen)


def parse_uptime_ticks(text: str) -> int:
    """Seconds since boot of /proc/uptime, in clock ticks (the unit of a process's start time)."""
    return int(float(text.split()[0]) * CLOCK_TICKS)


def tree(stats: dict[int, ProcStat], root: int) -> list[int]:
    """`root` and every process below it among `stats` (gunicorn forks its workers)."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_ms_between(start: dict[int, ProcStat], end: dict[int, ProcStat], start_uptime_ticks: int) -> float:
    """CPU milliseconds the processes of `end` used since `start` was taken.

    A process absent from `start` counts from zero when it started after `start` was taken (a
    new PostgreSQL backend, a restarted worker), else from its first appearance in `end` (it was
    only discovered late, so its earlier CPU is not ours to count). A process gone by `end` loses
    only what it used since the last sample.
    """
    ticks = 0
    for pid, now in end.items():
        before = start.get(pid)
        if before is not None and before.start_ticks == now.start_ticks:
            ticks += max(0, now.cpu_ticks - before.cpu_ticks)
        elif now.start_ticks >= start_uptime_ticks:
            ticks += now.cpu_ticks
    return ticks * 1000 / CLOCK_TICKS


def read_stat(pid: int) -> ProcStat | None:
    """The stat of a live process, None when it is gone."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def all_stats() -> dict[int, ProcStat]:
    """The stat of every process on the machine."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                found[stat.pid] = stat
    return found


def load_average() -> tuple[float, float, float]:
    """The machine's load averages now."""
    return parse_loadavg(Path("/proc/loadavg").read_text())


def uptime_ticks() -> int:
    """Clock ticks since boot now."""
    return parse_uptime_ticks(Path("/proc/uptime").read_text())
