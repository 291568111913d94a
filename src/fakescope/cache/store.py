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
                        audio_16000.npz               (the sound track, see CacheEntry.load_audio)

The audio is stored as the exact float32 samples ``fakescope.io.audio.load_audio`` decoded
(an uncompressed ``.npz``: a bit-exact round trip), with its start on the video timeline, or
the fact that the video has no audio stream, or the one-line error of a broken one. It is
written on first use (``CacheEntry.load_audio``) or at extraction (``extract --audio``); it
does not change the entry's key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .._atomic import atomic_write_bytes, atomic_write_json
from ..errors import AudioError, InputError

if TYPE_CHECKING:
    from ..io.audio import AudioTrack

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

    def audio_path(self, sample_rate: int = 16000) -> Path:
        return self.root / f"audio_{int(sample_rate)}.npz"

    def load_audio(
        self, source: str | os.PathLike[str] | None = None, sample_rate: int = 16000
    ) -> AudioTrack | None:
        """The video's sound track (``io.audio.load_audio``), or None when it has none.

        Decoded once from ``source`` (default: the file the entry was extracted from) and
        stored beside the crops, losslessly; later calls read it back bit-exact. A broken
        audio stream raises the same one-line :class:`AudioError` every time."""
        path = self.audio_path(sample_rate)
        if path.is_file():
            try:
                return _read_audio(path)
            except (OSError, ValueError, KeyError):
                pass  # unreadable (a foreign or damaged file): decode again and replace it
        src = os.fspath(source) if source is not None else str(self.meta["source"]["path"])
        size = self.meta.get("video", {}).get("size_bytes")
        if size is not None and os.path.isfile(src) and os.path.getsize(src) != size:
            raise InputError(
                src, f"not the video of cache entry {self.key[:12]} (size differs); pass source="
            )
        write_audio(path, src, sample_rate)
        return _read_audio(path)


def write_audio(path: Path, video: str | os.PathLike[str], sample_rate: int = 16000) -> None:
    """Decode ``video``'s sound track and store it (or its absence, or its error) at ``path``
    atomically. Errors opening the video itself propagate (nothing is stored)."""
    from ..io.audio import load_audio

    arrays: dict[str, np.ndarray] = {"sample_rate": np.asarray(sample_rate, np.int64)}
    try:
        track = load_audio(video, sample_rate)
    except AudioError as exc:
        arrays["error"] = np.asarray([exc.path, exc.detail or ""])
    else:
        if track is not None:
            arrays["samples"] = np.ascontiguousarray(track.samples, np.float32)
            arrays["start"] = np.asarray(track.start, np.float64)
            arrays["warnings"] = np.asarray(list(track.warnings), dtype=str)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def _read_audio(path: Path) -> AudioTrack | None:
    from ..io.audio import AudioTrack

    with np.load(path, allow_pickle=False) as z:
        if "error" in z:
            video, detail = (str(v) for v in z["error"])
            raise AudioError(video, detail or None)
        if "samples" not in z:
            return None
        return AudioTrack(
            np.asarray(z["samples"], np.float32),
            int(z["sample_rate"]),
            float(z["start"]),
            tuple(str(w) for w in z["warnings"]),
        )


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

    def add_audio(self, video: str | os.PathLike[str], sample_rate: int = 16000) -> None:
        """Store ``video``'s sound track in the entry (what ``CacheEntry.load_audio`` reads)."""
        write_audio(self.tmp / f"audio_{int(sample_rate)}.npz", video, sample_rate)

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
