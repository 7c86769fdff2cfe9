#!/usr/bin/env python3
"""Where a process spends its samples: inclusive and self shares from py-spy's raw (collapsed) output.

    .venv/bin/python -m bench.hotspots profile.txt [--top 25]

`bench/run --profile-seconds N` records every worker with `py-spy record --format raw` during the
broadcast; this prints, per file, the functions holding the most samples (inclusive: anywhere on
the stack; self: the frame running), with line numbers folded away so one function is one row.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """`func (path/module.py:123)` → `func (path/module.py)`."""
    return _LINE_NUMBER.sub(")", frame.strip())


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """Stacks (outermost frame first) with their sample counts."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def shares(stacks: list[tuple[list[str], int]]) -> tuple[int, Counter, Counter]:
    """Total samples, inclusive samples per function (once per stack) and self samples per function."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        total += count
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count
    return total, inclusive, own


def report(path: Path, top: int) -> str:
    """The text summary of one profile file."""
    total, inclusive, own = shares(parse_collapsed(path.read_text(errors="replace")))
    lines = [f"{path.name}: {total:,} samples"]
    if not total:
        return lines[0]
    lines.append("  inclusive:")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("  self:")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in own.most_common(top // 2)]
    return "\n".join(lines)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        print(report(path, args.top))


if __name__ == "__main__":
    main()
