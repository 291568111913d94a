"""Results that stream to disk as they finish, so a long batch survives a crash and resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._atomic import json_default

__all__ = ["ResultLog"]


class ResultLog:
    """An append-only JSON Lines file of per-item results, keyed by ``key_field``.

    Every row is flushed as it is written; a row cut short by a crash is ignored on reading.
    ``done()`` gives the rows of an earlier run, so that a rerun can skip them.
    """

    def __init__(self, path: str | os.PathLike[str], key_field: str = "path") -> None:
        self.path = Path(path)
        self.key_field = key_field
        self._fh: Any = None

    def done(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return rows
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # the last line of a killed run
                if isinstance(row, dict) and self.key_field in row:
                    rows[str(row[self.key_field])] = row
        return rows

    def write(self, row: dict[str, Any]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a killed run may have left half a line: start ours on a fresh one
            needs_newline = False
            if self.path.is_file() and self.path.stat().st_size > 0:
                with open(self.path, "rb") as tail:
                    tail.seek(-1, os.SEEK_END)
                    needs_newline = tail.read(1) != b"\n"
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across writes
            if needs_newline:
                self._fh.write("\n")
        self._fh.write(json.dumps(row, default=json_default) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
