"""Turn command-line inputs (files, folders, CSV lists) into a list of video (or image) paths."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .errors import ConfigError
from .io import MEDIA_EXTENSIONS

__all__ = ["collect_inputs", "is_video_name"]


def is_video_name(path: str | os.PathLike[str]) -> bool:
    """A video's or a still image's extension (an image is scanned as a one-frame video)."""
    return Path(path).suffix.lower() in MEDIA_EXTENSIONS


def _from_csv(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in [f.strip() for f in reader.fieldnames]:
            raise ConfigError(f"{path}: a CSV input needs a 'path' column")
        out = []
        for row in reader:
            value = (row.get("path") or "").strip()
            if value:
                p = Path(value)
                out.append(str(p if p.is_absolute() else path.parent / p))
        return out


def collect_inputs(inputs: list[str]) -> list[str]:
    """Files as given, folders searched recursively (video and image extensions, any case), manifests
    (``.parquet``, or ``.csv`` written by ``fakescope datasets``; paths resolved against their
    dataset root), CSVs with a ``path`` column (relative paths are relative to the CSV).
    Order kept, duplicates removed.
    A path that does not exist is kept, so that it is reported as a failed item."""
    out: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and is_video_name(f))
            out.extend(found)
        elif p.suffix.lower() == ".parquet" or (
            p.suffix.lower() == ".csv" and p.with_name(p.name + ".meta.json").is_file()
        ):
            from .datasets import read_manifest
            from .errors import DatasetError

            try:
                out.extend(read_manifest(p).absolute_paths())
            except DatasetError as exc:
                raise ConfigError(str(exc)) from None
        elif p.suffix.lower() == ".csv" and p.is_file():
            out.extend(_from_csv(p))
        else:
            out.append(str(p))
    seen: set[str] = set()
    unique = []
    for item in out:
        if item not in seen:
            seen.add(item)
            unique.append(item)
    return unique
