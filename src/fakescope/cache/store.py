"""A content-addressed store of face crops.

An entry's key covers the video's content fingerprint and every setting that changes the output
(sampling, detector and its options, crop geometry, tracking). Entries are folders written under
a temporary name and renamed into place, so a run killed at any moment leaves either a complete
entry or none, and the next run resumes. Crops are PNG (lossless: compression artefacts are the
signal this field measures).

Layout::

    ROOT/v1/ab/abcdef.../meta.json
                        crops/t000_f000123.png
                        context/t000_f000123_r0.png   (only with ContextSettings)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._atomic import atomic_write_json

__all__ = [
    "CACHE_VERSION",
    "CacheEntry",
    "CropCache",
    "EntryWriter",
    "file_fingerprint",
    "settings_key",
]

CACHE_VERSION = "v1"
_FULL_HASH_LIMIT = 256 * 1024 * 1024
_CHUNK = 4 * 1024 * 1024


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """blake2b of the file's bytes (for files over 256 MB: size + 16 spread 4 MB chunks)."""
    size = os.path.getsize(path)
    h = hashlib.blake2b(digest_size=20)
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        if size <= _FULL_HASH_LIMIT:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        else:
            for i in range(16):
                fh.seek((size - _CHUNK) * i // 15)
                h.update(fh.read(_CHUNK))
    return h.hexdigest()


def settings_key(fingerprint: str, settings: Mapping[str, Any]) -> str:
    payload = json.dumps(
        {"cache": CACHE_VERSION, "file": fingerprint, "settings": settings},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One video's extracted faces: ``meta`` (frames, tracks, boxes, landmarks) + crop PNGs."""

    key: str
    root: Path
    meta: dict[str, Any]

    @property
    def tracks(self) -> list[dict[str, Any]]:
        return list(self.meta.get("tracks", []))

    def crop_paths(self, track_id: int) -> list[Path]:
        track = self.tracks[track_id]
        return [self.root / "crops" / name for name in track["files"]]

    def load_crops(self, track_id: int) -> np.ndarray:
        """All crops of one track, in time order, as (T, H, W, 3) uint8 RGB."""
        images = [_read_png(p) for p in self.crop_paths(track_id)]
        return np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8)


def _read_png(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{path}: cannot read cached crop")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class CropCache:
    """``get(key)`` / ``put(key, meta, crops)`` over a folder; safe for many processes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / CACHE_VERSION / key[:2] / key

    def get(self, key: str) -> CacheEntry | None:
        folder = self._dir(key)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        return CacheEntry(key, folder, meta)

    def writer(self, key: str) -> EntryWriter:
        """Start writing an entry; nothing is visible under ``key`` until ``commit``."""
        tmp_root = self.root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        return EntryWriter(self, key, tmp_root / f"{key}.{uuid.uuid4().hex}")

    def put(self, key: str, meta: dict[str, Any], crops: Mapping[str, np.ndarray]) -> CacheEntry:
        """Write an entry atomically. ``crops`` maps file names (``*.png``) to RGB arrays."""
        with self.writer(key) as w:
            for name, image in crops.items():
                w.add_crop(name, image)
            return w.commit(meta)

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of killed runs older than ``older_than`` seconds; returns how many."""
        import time

        tmp_root = self.root / "tmp"
        if not tmp_root.is_dir():
            return 0
        n = 0
        now = time.time()
        for child in tmp_root.iterdir():
            try:
                stale = now - child.stat().st_mtime > older_than
            except OSError:
                continue
            if stale:
                shutil.rmtree(child, ignore_errors=True)
                n += 1
        return n


class EntryWriter:
    """Builds one entry in a private temporary folder; ``commit`` renames it into place.

    Used as a context manager: leaving the block without ``commit`` (an error, a kill) removes
    the temporary folder, so a half-written entry is never visible.
    """

    def __init__(self, cache: CropCache, key: str, tmp: Path) -> None:
        self.cache = cache
        self.key = key
        self.tmp = tmp
        (tmp / "crops").mkdir(parents=True)
        self._committed = False

    def add_crop(self, name: str, image: np.ndarray, folder: str = "crops") -> None:
        """Write one RGB crop as PNG (thread-safe: distinct names may be written concurrently).

        ``folder`` is a sub-folder of the entry (``crops`` for face crops; other evidence, such
        as the background windows of ``ContextSettings``, goes beside it)."""
        if folder != "crops":
            (self.tmp / folder).mkdir(exist_ok=True)
        ok = cv2.imwrite(
            str(self.tmp / folder / name),
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [
                cv2.IMWRITE_PNG_COMPRESSION,
                1,
                cv2.IMWRITE_PNG_STRATEGY,
                cv2.IMWRITE_PNG_STRATEGY_RLE,
            ],
        )
        if not ok:
            raise OSError(f"cannot write crop {name} in {self.tmp}")

    def remove_crop(self, name: str, folder: str = "crops") -> None:
        (self.tmp / folder / name).unlink(missing_ok=True)

    def rename_crop(self, old: str, new: str, folder: str = "crops") -> None:
        os.replace(self.tmp / folder / old, self.tmp / folder / new)

    def commit(self, meta: dict[str, Any]) -> CacheEntry:
        meta = {**meta, "key": self.key}
        atomic_write_json(self.tmp / "meta.json", meta)
        final = self.cache._dir(self.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self.tmp, final)
        except OSError:
            # another process finished the same entry first: keep theirs
            if not (final / "meta.json").is_file():
                raise
            shutil.rmtree(self.tmp, ignore_errors=True)
        self._committed = True
        return CacheEntry(self.key, final, meta)

    def __enter__(self) -> EntryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:
            shutil.rmtree(self.tmp, ignore_errors=True)
