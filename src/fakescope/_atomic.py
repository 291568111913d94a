"""Write files so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "json_default",
    "relative_paths",
]


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, default=json_default) + "\n")


def relative_paths(value: Any, base: str | os.PathLike[str]) -> Any:
    """``value`` (nested dicts and lists) with absolute paths under ``base`` written relative
    to it: a report that is committed or moved names no folder of the machine that made it."""
    root = os.fspath(base).rstrip(os.sep) + os.sep
    if isinstance(value, dict):
        return {k: relative_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_paths(v, base) for v in value]
    if isinstance(value, str) and value.startswith(root):
        return os.path.relpath(value, root)
    return value
