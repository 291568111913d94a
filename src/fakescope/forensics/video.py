"""The five signals of one video, from its crop-cache entry (cached by entry and settings)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._atomic import atomic_write_json
from ..cache import CacheEntry
from ..errors import ConfigError
from .flow import FlowSettings, cached_anomalies
from .signals import (
    SIGNALS,
    ForensicSettings,
    boundary_mean,
    color_wasserstein,
    flicker_hll,
    flow_boundary,
    noise_autocorr,
    srm_sharpness,
)

__all__ = [
    "SIGNALS_VERSION",
    "SignalJob",
    "VideoEvidence",
    "load_evidence",
    "main_track",
    "make_signals_job",
    "video_signals",
]

SIGNALS_VERSION = 1  # bump when a signal's code changes: cached values are then recomputed


def main_track(entry: CacheEntry) -> int | None:
    """The track the signals describe: the one with most frames (then the largest faces)."""
    tracks = entry.tracks
    if not tracks:
        return None

    def rank(t: dict[str, Any]) -> tuple[int, float]:
        boxes = np.asarray(t["boxes"], np.float64).reshape(-1, 4)
        area = float(np.mean((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        return len(t["files"]), area

    return max(range(len(tracks)), key=lambda i: rank(tracks[i]))


@dataclass
class VideoEvidence:
    """What the signals read, resized to ``ForensicSettings.size``."""

    track: int
    faces: np.ndarray  # (T, S, S, 3) face crops at the sampled frames
    windows: np.ndarray | None  # (T, S, S, 3) background windows at the sampled frames
    face_masks: np.ndarray | None  # (T, S, S) bool: the face box in each window
    valid_masks: np.ndarray | None  # (T, S, S) bool: window pixels inside the video frame
    runs: list[np.ndarray]  # per sampled frame, (R, S, S, 3) consecutive frames
    run_boxes: list[list[float]]  # the face box of each run, window pixels


def _read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{path}: cannot read cached image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interp)


def load_evidence(
    entry: CacheEntry,
    settings: ForensicSettings,
    runs: bool = True,
    track: int | None = None,
) -> VideoEvidence | None:
    """Face crops (and the context, when the entry has it) of the main track (or of
    ``track``); None: no face. ``runs=False`` reads only the first frame of each run (the
    windows), for when the flow of the runs is already known (``VideoEvidence.runs`` empty)."""
    t = main_track(entry) if track is None else track
    if t is None:
        return None
    size = settings.size
    faces = np.stack([_resize(_read(p), size) for p in entry.crop_paths(t)])
    ctx = entry.tracks[t].get("context")
    if not ctx:
        return VideoEvidence(t, faces, None, None, None, [], [])
    video = entry.meta.get("video", {})
    width, height = int(video.get("width", 0)), int(video.get("height", 0))
    stored = int(ctx["size"])
    k = size / stored
    folder = entry.root / "context"
    loaded = [
        np.stack([_resize(_read(folder / n), size) for n in (names if runs else names[:1])])
        for names in ctx["files"]
    ]
    boxes = [[v * k for v in box] for box in ctx["boxes"]]
    face_masks = np.zeros((len(loaded), size, size), bool)
    valid = np.ones((len(loaded), size, size), bool)
    centres = np.arange(size) + 0.5
    for i, ((x0, y0, side), box) in enumerate(zip(ctx["windows"], boxes)):
        x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
        face_masks[i, y1 : round(box[3]), x1 : round(box[2])] = True
        if width and height:  # the window's pixels that lie inside the frame
            xs = x0 + centres * side / size
            ys = y0 + centres * side / size
            valid[i] = ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None, :]
    windows = np.stack([run[0] for run in loaded])
    return VideoEvidence(t, faces, windows, face_masks, valid, loaded if runs else [], boxes)


def video_signals(entry: CacheEntry, settings: ForensicSettings | None = None) -> dict[str, Any]:
    """The five signals of one extracted video (NaN where the entry lacks what one needs)."""
    s = settings or ForensicSettings()
    t = main_track(entry)
    anomalies = None if t is None else _cached_anomalies(entry, t, s)
    ev = load_evidence(entry, s, runs=anomalies is None, track=t)
    out: dict[str, Any] = dict.fromkeys(SIGNALS, float("nan"))
    out.update({"track": None, "frames": 0, "pairs": 0, "notes": []})
    if ev is None:
        out["notes"].append("no face")
        return out
    out["track"], out["frames"] = ev.track, len(ev.faces)
    out["flicker_hll"] = flicker_hll(ev.faces, s.wavelet, s.wavelet_mode)
    out["srm_sharpness"] = srm_sharpness(ev.faces)
    out["noise_autocorr"] = noise_autocorr(ev.faces, s.blur)
    if ev.windows is None or ev.face_masks is None:
        out["notes"].append(
            "no background windows in the cache entry (extract with ContextSettings): "
            "color_wasserstein and flow_boundary not computed"
        )
        return out
    out["color_wasserstein"] = color_wasserstein(ev.windows, ev.face_masks, ev.valid_masks, s.bins)
    if anomalies is None:
        out["flow_boundary"] = flow_boundary(ev.runs, ev.run_boxes, s.ring, s.farneback)
        out["pairs"] = sum(max(0, len(r) - 1) for r in ev.runs)
    else:  # the same per-pair terms, already computed by a flow model on this entry
        out["flow_boundary"] = boundary_mean(anomalies)
        files = entry.tracks[ev.track]["context"]["files"]
        out["pairs"] = sum(max(0, len(names) - 1) for names in files)
    if out["pairs"] == 0:
        out["notes"].append("no consecutive frames in the cache entry: flow_boundary not computed")
    return out


def _cached_anomalies(
    entry: CacheEntry, track: int, settings: ForensicSettings
) -> list[float | None] | None:
    """The per-pair terms of ``flow_boundary`` for ``track`` from the entry's flow cache, when
    a flow model already computed it with the same Farneback call and band, on windows at the
    signals' size (so the same frames); None otherwise (the signal computes the flow)."""
    ctx = entry.tracks[track].get("context")
    if not ctx or int(ctx["size"]) != settings.size:
        return None
    try:
        flow_settings = FlowSettings(farneback=settings.farneback, ring=settings.ring)
    except ConfigError:
        return None
    try:
        return cached_anomalies(entry, int(entry.tracks[track]["track_id"]), flow_settings)
    except (OSError, KeyError, TypeError, ValueError):  # a damaged cache: compute instead
        return None


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cached_signals(
    entry: CacheEntry, settings: ForensicSettings | None = None
) -> tuple[dict[str, Any], bool]:
    """``video_signals`` read back from, or written to, the entry's own folder (keyed by the
    settings and ``SIGNALS_VERSION``; NaN stored as None); (values, whether they were cached).
    ``fakescope forensics``, training and scoring a signals model share these files."""
    s = settings or ForensicSettings()
    payload = json.dumps({"settings": s.to_dict(), "v": SIGNALS_VERSION}, sort_keys=True)
    stored = entry.root / "signals" / f"{hashlib.sha256(payload.encode()).hexdigest()[:24]}.json"
    if stored.is_file():
        try:
            return json.loads(stored.read_text()), True
        except (OSError, ValueError):
            pass  # a damaged file is recomputed
    values = {k: _finite_or_none(v) for k, v in video_signals(entry, s).items()}
    stored.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stored, values)
    return values, False


class SignalJob:
    """Extract one video through the crop cache, then compute (or read back) its signals.

    Built once per worker (``make_signals_job``); returns a row, never raises on bad input.
    """

    def __init__(self, extract: Any, settings: ForensicSettings, cache_dir: str) -> None:
        from ..extraction import Extractor

        self.extractor = Extractor(extract, cache_dir)
        self.settings = settings

    def __call__(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        start = time.perf_counter()
        result = self.extractor(path)
        row: dict[str, Any] = {"status": result.status, "error": result.error}
        row.update(dict.fromkeys(SIGNALS))
        row.update({"track": None, "frames": 0, "pairs": 0, "notes": [], "cached": False})
        entry = result.entry
        if entry is not None and result.status == "no_face":
            row["error"] = entry.meta.get("reason") or "no face found"
        if entry is None or result.status != "ok":
            row["seconds"] = round(time.perf_counter() - start, 3)
            return row
        try:
            values, row["cached"] = cached_signals(entry, self.settings)
        except (OSError, ValueError, cv2.error) as exc:
            msg = " ".join(str(exc).split())
            row.update(status="failed", error=f"{os.fspath(path)}: signals: {msg}")
            row["seconds"] = round(time.perf_counter() - start, 3)
            return row
        row.update(values)
        row["seconds"] = round(time.perf_counter() - start, 3)
        return row


def make_signals_job(extract: Any, settings: ForensicSettings, cache_dir: str) -> SignalJob:
    """Engine factory (``engine.map(make_signals_job, paths, (extract, settings, cache))``)."""
    return SignalJob(extract, settings, cache_dir)
