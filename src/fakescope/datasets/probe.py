"""Probe every video of a manifest in parallel: media facts, and whether it is readable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..engines import ResultLog
from ..errors import FakescopeError
from ..io import VideoReader
from .manifest import PROBE_COLUMNS, Manifest

__all__ = ["make_probe_job", "probe_manifest"]


def make_probe_job(root: str, deep: bool = False) -> Callable[[str], dict[str, Any]]:
    """A job for an engine: relative path -> probe row. ``deep`` also reads every packet, which
    finds truncated files (a shallow probe decodes only the first frame)."""

    def job(rel_path: str) -> dict[str, Any]:
        full = Path(rel_path) if Path(rel_path).is_absolute() else Path(root) / rel_path
        row: dict[str, Any] = {"path": rel_path, **dict.fromkeys(PROBE_COLUMNS)}
        try:
            stat = full.stat()
            row["size_bytes"], row["mtime"] = stat.st_size, stat.st_mtime
            with VideoReader(full, threads=False) as reader:
                info = reader.info
                row.update(
                    duration=info.duration, fps=info.fps, width=info.width, height=info.height,
                    frame_count=info.frame_count, codec=info.codec, has_audio=info.has_audio,
                    readable=True,
                )  # fmt: skip
                if deep:
                    index = reader.index
                    row["frame_count"] = len(index)
                    if not index.complete:
                        row["readable"] = False
                        row["error"] = (
                            f"{full}: only {len(index)} of {info.frame_count} frames readable "
                            "(truncated or damaged)"
                        )
        except FakescopeError as exc:
            row.update(readable=False, error=str(exc))
        except OSError as exc:
            row.update(readable=False, error=f"{full}: {exc.strerror or exc}")
        return row

    return job


def probe_manifest(
    manifest: Manifest,
    engine: Any,
    *,
    deep: bool = False,
    log_path: str | os.PathLike[str] | None = None,
    progress: Any = None,
) -> pd.DataFrame:
    """Probe every row (resuming from ``log_path`` when given) and return the table with the
    probe columns filled in."""
    paths = [str(p) for p in manifest.table["path"]]
    rows: dict[str, dict[str, Any]] = {}
    log = ResultLog(log_path) if log_path else None
    if log is not None:
        for key, row in log.done().items():
            full = Path(manifest.root) / key
            try:
                same = full.stat().st_size == row.get(
                    "size_bytes"
                ) and full.stat().st_mtime == row.get("mtime")
            except OSError:
                same = False
            if same and row.get("deep", False) >= deep:
                rows[key] = row
    todo = [p for p in paths if p not in rows]
    if progress is not None:
        progress.update(len(paths) - len(todo))
    try:
        for item, result in engine.map(make_probe_job, todo, (str(manifest.root), deep), chunk=16):
            if isinstance(result, BaseException):
                result = {"path": item, **dict.fromkeys(PROBE_COLUMNS), "readable": False,
                          "error": f"{item}: {' '.join(str(result).split())}"}  # fmt: skip
            result["deep"] = deep
            rows[item] = result
            if log is not None:
                log.write(result)
            if progress is not None:
                progress.update(1)
    finally:
        if log is not None:
            log.close()
    table = manifest.table.copy()
    for col in PROBE_COLUMNS:
        table[col] = [rows[p].get(col) for p in paths]
    return table
