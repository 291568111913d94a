"""Dense optical flow between truly consecutive frames of a face track (seed 003), cached.

Seed 003 computes Farneback flow (``pyr_scale`` 0.5, 3 levels, window 15, 3 iterations,
``poly_n`` 5, ``poly_sigma`` 1.2, no flags) between consecutive frames and feeds the flow maps to
a CNN-LSTM. Here the frames are the runs of consecutive video frames that an extraction with
``ContextSettings`` keeps around each sampled frame of a track (windows of twice the face box,
cut at the sampled frame's box so a still background stays still), so every pair is two
adjacent video frames, never two sampled frames 1/N of the video apart.

Each pair becomes one 3-channel uint8 *flow image*, which the clip models read exactly as they
read face crops (``ModelConfig.inputs == "flow"``):

- channel 0: the flow magnitude, min-max normalised to 0..255 within the pair (seed 003's
  ``cv2.normalize(mag, None, 0, 255, NORM_MINMAX).astype(uint8)``);
- channels 1, 2: the flow's x and y components divided by the pair's largest magnitude, mapped
  from [-1, 1] to 0..255 (128 = no motion): the direction, weighted by how much moves. The seed
  keeps the magnitude only; the direction channels are the issue's "magnitude/direction maps".

Per pair the cache also keeps the mean and largest magnitude (pixels per frame at the window's
size, before normalisation) and the *motion anomaly*: |mean magnitude on the ``ring``-pixel
band just inside the face box's edge - mean magnitude inside that band|, the per-pair quantity
whose mean over pairs is the ``flow_boundary`` forensic signal (a face that moves against its
own surroundings, as a pasted face does, raises it).

The flow of one cache entry is written once under ``CACHE_ROOT/flow/`` (a folder per entry and
settings, renamed into place when complete), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._atomic import atomic_write_json
from ..cache import CacheEntry
from ..errors import ConfigError

__all__ = [
    "FARNEBACK",
    "FLOW_VERSION",
    "FlowSettings",
    "TrackFlow",
    "boundary_masks",
    "cached_anomalies",
    "decode_flow_image",
    "entry_flow",
    "farneback_flow",
    "flow_image",
    "flow_root",
    "run_flows",
]

FLOW_VERSION = 1  # bump when the flow images or their statistics change: caches recompute

# seed 003's cv2.calcOpticalFlowFarneback(prev, next, None, 0.5, 3, 15, 3, 5, 1.2, 0) (the
# same numbers as seed 000's flow signal): pyr_scale, levels, winsize, iterations, poly_n,
# poly_sigma, flags
FARNEBACK: tuple[float, int, int, int, int, float, int] = (0.5, 3, 15, 3, 5, 1.2, 0)


@dataclass(frozen=True)
class FlowSettings:
    """How flow images are made (part of the flow cache key; a flow model's card keeps them)."""

    farneback: tuple[float, int, int, int, int, float, int] = FARNEBACK
    ring: int = 8  # the boundary band of the motion anomaly, pixels at the window's size

    def __post_init__(self) -> None:
        f = tuple(self.farneback)
        if len(f) != 7:
            raise ConfigError(
                "flow.farneback: give 7 numbers (pyr_scale, levels, winsize, iterations, poly_n, "
                f"poly_sigma, flags), got {list(f)}"
            )
        pyr, levels, win, iters, poly_n, sigma, flags = f
        if not (0.0 < float(pyr) < 1.0 and int(levels) >= 1 and int(win) >= 3):
            raise ConfigError("flow.farneback: pyr_scale within (0, 1), levels >= 1, winsize >= 3")
        if not (int(iters) >= 1 and int(poly_n) in (5, 7) and float(sigma) > 0):
            raise ConfigError("flow.farneback: iterations >= 1, poly_n 5 or 7, poly_sigma > 0")
        normalised = (float(pyr), int(levels), int(win), int(iters), int(poly_n), float(sigma))
        object.__setattr__(self, "farneback", (*normalised, int(flags)))
        if not 1 <= int(self.ring) <= 64:
            raise ConfigError(f"flow.ring must be within 1..64, got {self.ring}")

    def to_dict(self) -> dict[str, Any]:
        return {"farneback": list(self.farneback), "ring": int(self.ring)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FlowSettings:
        data = dict(data or {})
        unknown = sorted(set(data) - {"farneback", "ring"})
        if unknown:
            raise ConfigError(f"flow: unknown key(s) {', '.join(unknown)}; known: farneback, ring")
        if "farneback" in data:
            data["farneback"] = tuple(data["farneback"])
        return cls(**data)


def farneback_flow(
    prev: np.ndarray, nxt: np.ndarray, params: Sequence[float] = FARNEBACK
) -> np.ndarray:
    """(H, W, 2) float32 flow (dx, dy in pixels) from grey uint8 ``prev`` to ``nxt``."""
    pyr, levels, win, iters, poly_n, poly_sigma, flags = params
    start = np.zeros((*prev.shape[:2], 2), np.float32)  # not read: no USE_INITIAL_FLOW flag
    return cv2.calcOpticalFlowFarneback(
        prev, nxt, start, float(pyr), int(levels), int(win), int(iters), int(poly_n),
        float(poly_sigma), int(flags),
    )  # fmt: skip


def boundary_masks(
    shape: tuple[int, int], box: Sequence[float], ring: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(band, inner) bool masks: the ``ring``-pixel band just inside the face box's edge and the
    box inside it; None when the box has no interior left inside the band."""
    h, w = shape
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(w, round(box[2])), min(h, round(box[3]))
    if x2 - x1 <= 2 * ring or y2 - y1 <= 2 * ring:
        return None
    band = np.zeros((h, w), bool)
    band[y1:y2, x1:x2] = True
    inner = np.zeros((h, w), bool)
    inner[y1 + ring : y2 - ring, x1 + ring : x2 - ring] = True
    band &= ~inner
    return band, inner


def run_flows(run: np.ndarray, params: Sequence[float] = FARNEBACK) -> list[np.ndarray]:
    """Flow of every consecutive pair of an (R, H, W, 3) uint8 RGB run: R - 1 (H, W, 2) maps."""
    grays = [cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2GRAY) for f in run]
    return [farneback_flow(g0, g1, params) for g0, g1 in itertools.pairwise(grays)]


def flow_image(flow: np.ndarray) -> np.ndarray:
    """(H, W, 2) flow -> (H, W, 3) uint8: min-max magnitude (seed 003), then dx and dy over
    the largest magnitude mapped from [-1, 1] to 0..255 (128 = still)."""
    mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    norm = cv2.normalize(mag, np.empty_like(mag), 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    peak = float(mag.max())
    if peak <= 1e-6:  # no motion at all: no direction
        dirs = np.full((*mag.shape, 2), 128, np.uint8)
    else:
        dirs = np.clip(np.round(127.5 + 127.5 * flow / peak), 0, 255).astype(np.uint8)
    return np.dstack([norm, dirs])


def decode_flow_image(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A flow image -> (relative magnitude in [0, 1], direction in radians, image y down)."""
    img = np.asarray(image, np.float32)
    dx = (img[..., 1] - 127.5) / 127.5
    dy = (img[..., 2] - 127.5) / 127.5
    return img[..., 0] / 255.0, np.arctan2(dy, dx)


@dataclass
class TrackFlow:
    """The flow images of one face track, pairs in time order, with per-pair statistics."""

    track_id: int
    files: list[Path]  # flow image PNGs
    anchor: np.ndarray  # position of the pair's run in the track's sampled frames
    offset: np.ndarray  # the pair's first frame within its run (0 = the sampled frame)
    frame_index: np.ndarray  # video frame index of the pair's first frame
    timestamp: np.ndarray  # seconds of the pair's first frame
    mean_magnitude: np.ndarray  # pixels per frame at the window's size
    max_magnitude: np.ndarray
    anomaly: np.ndarray  # boundary discontinuity (NaN where the box has no interior)
    # the flow images themselves when they were just computed (what ``files`` hold: PNG is
    # lossless), so the scan that computed them does not read them back
    images: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.files)

    def load(self) -> np.ndarray:
        """All flow images as (P, H, W, 3) uint8."""
        if self.images is not None:
            return self.images.copy()
        return np.stack([_read_rgb(p) for p in self.files])


def flow_root(entry: CacheEntry) -> Path:
    """The flow cache beside a crop cache (``CACHE_ROOT/flow``; entries live in
    ``CACHE_ROOT/v1/ab/KEY``)."""
    return entry.root.parents[2] / "flow"


def _key(entry: CacheEntry, settings: FlowSettings) -> str:
    payload = json.dumps(
        {"entry": entry.key, "flow": settings.to_dict(), "v": FLOW_VERSION}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{path}: cannot read cached image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _write_rgb(path: Path, image: np.ndarray) -> None:
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"cannot write {path}")


def _finite(v: float) -> float | None:
    return round(v, 6) if math.isfinite(v) else None


def _run_pairs(
    entry: CacheEntry, settings: FlowSettings, folder: Path, track: dict[str, Any], pos: int
) -> list[dict[str, Any]]:
    """Flow images (written to ``folder``) and statistics of one run of consecutive frames."""
    ctx, tid = track["context"], int(track["track_id"])
    names, box = ctx["files"][pos], ctx["boxes"][pos]
    if len(names) < 2:
        return []  # the run was cut short at the end of the video
    fps = float(entry.meta.get("video", {}).get("fps") or 0.0)
    run = np.stack([_read_rgb(entry.root / "context" / n) for n in names])
    masks = boundary_masks(run.shape[1:3], box, settings.ring)
    t0 = float(track["timestamps"][pos])
    pairs = []
    for k, flow in enumerate(run_flows(run, settings.farneback)):
        mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
        anomaly = float("nan")
        if masks is not None:
            anomaly = abs(float(mag[masks[0]].mean()) - float(mag[masks[1]].mean()))
        name = f"t{tid:03d}_f{int(ctx['frame_indices'][pos][k]):06d}_p{k:02d}.png"
        image = flow_image(flow)
        _write_rgb(folder / name, image)
        pairs.append(
            {"file": name, "_image": image, "anchor": pos, "offset": k, "frame_index": int(ctx["frame_indices"][pos][k]),
             "timestamp": round(t0 + (k / fps if fps > 0 else 0.0), 6),
             "mean_magnitude": _finite(float(mag.mean())),
             "max_magnitude": _finite(float(mag.max())), "anomaly": _finite(anomaly),
             # exact, for flow_boundary to read back (caches written before it lack it)
             "anomaly_exact": anomaly if math.isfinite(anomaly) else None}
        )  # fmt: skip
    return pairs


def _compute(
    entry: CacheEntry,
    settings: FlowSettings,
    folder: Path,
    images: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Flow images of every track with context runs into ``folder`` (and into ``images``, by
    file name, when given); returns the meta. The runs go through up to OpenCV's thread count
    of threads (Farneback and PNG coding release the GIL; ``cv2.setNumThreads(1)`` keeps it
    serial); the result does not depend on it."""
    tracks = []
    threads = max(1, min(cv2.getNumThreads(), os.cpu_count() or 1, 4))
    with ThreadPoolExecutor(threads) as pool:
        for track in entry.tracks:
            if not track.get("context"):
                continue
            positions = range(len(track["context"]["files"]))
            runs = pool.map(
                lambda pos, t=track: _run_pairs(entry, settings, folder, t, pos), positions
            )
            pairs = [pair for run in runs for pair in run]
            for pair in pairs:
                image = pair.pop("_image")
                if images is not None:
                    images[pair["file"]] = image
            tracks.append({"track_id": int(track["track_id"]), "pairs": pairs})
    return {"entry": entry.key, "settings": settings.to_dict(), "version": FLOW_VERSION,
            "tracks": tracks}  # fmt: skip


def _read_meta(path: Path) -> dict[str, Any] | None:
    """A complete flow cache's meta (None when absent or damaged: it is recomputed)."""
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def cached_anomalies(
    entry: CacheEntry,
    track_id: int,
    settings: FlowSettings | None = None,
    root: str | os.PathLike[str] | None = None,
) -> list[float | None] | None:
    """The motion anomaly of every frame pair of one track (pairs in time order, None where
    the box has no interior) from a flow cache that ``entry_flow`` already wrote (a flow model
    scored the entry); None when there is none: nothing is computed. The values are the exact
    per-pair terms of the ``flow_boundary`` signal (same frames, Farneback call and masks), so
    the signal reads them instead of computing the flow a second time."""
    s = settings or FlowSettings()
    base = Path(root) if root is not None else flow_root(entry)
    key = _key(entry, s)
    meta = _read_meta(base / f"v{FLOW_VERSION}" / key[:2] / key / "meta.json")
    if meta is None:
        return None
    for t in meta.get("tracks", []):
        if int(t["track_id"]) == int(track_id):
            if not all("anomaly_exact" in p for p in t["pairs"]):
                return None  # written before the exact values were kept: compute
            return [p["anomaly_exact"] for p in t["pairs"]]
    return []  # a track without runs of consecutive frames has no pairs


def entry_flow(
    entry: CacheEntry,
    settings: FlowSettings | None = None,
    root: str | os.PathLike[str] | None = None,
) -> dict[int, TrackFlow]:
    """Track id -> ``TrackFlow`` for every track of ``entry`` that has runs of consecutive
    frames (an extraction with ``ContextSettings``); empty when none has. Computed once and
    cached under ``root`` (default ``flow_root(entry)``)."""
    s = settings or FlowSettings()
    base = Path(root) if root is not None else flow_root(entry)
    key = _key(entry, s)
    final = base / f"v{FLOW_VERSION}" / key[:2] / key
    meta_path = final / "meta.json"
    meta = _read_meta(meta_path)
    images: dict[str, np.ndarray] = {}
    if meta is None:
        tmp = base / "tmp" / f"{key}.{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        try:
            meta = _compute(entry, s, tmp, images)
            atomic_write_json(tmp / "meta.json", meta)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError:  # another process finished the same entry first: keep theirs
                if not meta_path.is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    assert meta is not None
    out = {}
    for t in meta["tracks"]:
        pairs = t["pairs"]

        def col(name: str, pairs: list[dict[str, Any]] = pairs) -> np.ndarray:
            return np.array([np.nan if p[name] is None else p[name] for p in pairs], np.float64)

        out[int(t["track_id"])] = TrackFlow(
            int(t["track_id"]), [final / p["file"] for p in pairs],
            np.array([p["anchor"] for p in pairs], np.int64),
            np.array([p["offset"] for p in pairs], np.int64),
            np.array([p["frame_index"] for p in pairs], np.int64),
            col("timestamp"), col("mean_magnitude"), col("max_magnitude"), col("anomaly"),
            np.stack([images[p["file"]] for p in pairs])
            if pairs and all(p["file"] in images for p in pairs) else None,
        )  # fmt: skip
    return out
