"""Contact sheets: every track's crops in time order, one row per track."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .._atomic import atomic_write_bytes
from ..cache import CacheEntry

__all__ = ["contact_sheet"]

_BG = (245, 245, 245)
_INK = (30, 30, 30)


def _label(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.45) -> None:
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _INK, 1, cv2.LINE_AA)


def contact_sheet(
    entry: CacheEntry,
    out: str | os.PathLike[str],
    *,
    max_tracks: int = 8,
    columns: int = 12,
    thumb: int = 96,
) -> Path:
    """Write a PNG with up to ``columns`` crops (evenly spread in time) for each track."""
    meta = entry.meta
    tracks = entry.tracks[:max_tracks]
    title_h, row_h, pad = 28, thumb + 34, 8
    width = pad * 2 + columns * (thumb + 4)
    height = title_h + max(1, len(tracks)) * row_h + pad
    canvas = np.full((height, width, 3), _BG, np.uint8)
    video = meta.get("video", {})
    title = (
        f"{meta.get('source', {}).get('name', '')}  {video.get('width')}x{video.get('height')}  "
        f"{len(meta.get('frames', []))} frames sampled ({meta.get('settings', {}).get('sampling')}), "
        f"{len(entry.tracks)} track(s)"
    )
    _label(canvas, title[:120], pad, 19, 0.5)
    if not tracks:
        _label(canvas, meta.get("reason") or "no face found", pad, title_h + 40, 0.55)
    for row, track in enumerate(tracks):
        y0 = title_h + row * row_h
        files = track["files"]
        n = len(files)
        picks = np.unique(np.linspace(0, n - 1, min(columns, n)).round().astype(int))
        score = float(np.mean(track["scores"]))
        _label(
            canvas, f"track {track['track_id']}: {n} frames, mean score {score:.2f}", pad, y0 + 14
        )
        for col, k in enumerate(picks):
            bgr = cv2.imread(str(entry.root / "crops" / files[k]), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            img = cv2.resize(bgr, (thumb, thumb), interpolation=cv2.INTER_AREA)
            x = pad + col * (thumb + 4)
            canvas[y0 + 18 : y0 + 18 + thumb, x : x + thumb] = img[:, :, ::-1]
            _label(canvas, f"{track['timestamps'][k]:.1f}s", x + 2, y0 + 18 + thumb + 12, 0.38)
    ok, buf = cv2.imencode(".png", canvas[:, :, ::-1])
    if not ok:
        raise OSError(f"cannot encode contact sheet for {out}")
    atomic_write_bytes(out, buf.tobytes())
    return Path(out)
