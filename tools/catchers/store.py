"""Caught messages on disk: one file per message and an index line per message (`index.jsonl`).

Files, not a database, so a person can open a caught email in a mail client (`.eml`) and the CLI
can read them without any server running.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

INDEX = "index.jsonl"


class UnknownMessage(LookupError):
    """No caught message has this id."""


class CaughtMessages:
    """The messages one catcher stored in `directory`, numbered 1, 2, 3, ... in arrival order."""

    def __init__(self, directory: Path | str, suffix: str) -> None:
        self.directory = Path(directory)
        self.suffix = suffix
        self._lock = threading.Lock()
        self._last_id: int | None = None

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:06d}{self.suffix}"

    def _next_number(self) -> int:
        if self._last_id is None:  # continue after what an earlier run stored
            self._last_id = max((int(entry["id"]) for entry in self.entries()), default=0)
        self._last_id += 1
        return self._last_id

    def add(self, content: bytes, summary: dict[str, Any]) -> str:
        """Store one message and its index entry; return its id."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            number = self._next_number()
            path = self._path(number)
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_bytes(content)
            os.replace(temporary, path)  # a reader never sees half a message
            entry = {"id": str(number), "file": path.name, **summary}
            with (self.directory / INDEX).open("a+b") as index:
                torn = False
                if index.seek(0, os.SEEK_END) > 0:
                    index.seek(-1, os.SEEK_END)
                    torn = index.read(1) != b"\n"
                # after a line torn by a killed writer, start a fresh line so this entry stays readable
                index.write((b"\n" if torn else b"") + json.dumps(entry, default=str).encode() + b"\n")
            return str(number)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Index entries in arrival order (a half-written last line is skipped)."""
        try:
            lines = (self.directory / INDEX).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:
                continue

    def get(self, message_id: str) -> tuple[dict[str, Any], bytes]:
        """The index entry and the stored bytes of one message (`7` and `000007` are the same id)."""
        try:
            number = int(message_id)
        except ValueError:
            raise UnknownMessage(message_id) from None
        for entry in self.entries():
            if int(entry["id"]) == number:
                try:
                    return entry, (self.directory / entry["file"]).read_bytes()
                except FileNotFoundError:
                    raise UnknownMessage(message_id) from None
        raise UnknownMessage(message_id)
