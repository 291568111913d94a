"""Score the cached face crops of a video with a detector, and aggregate to one probability.

Used by ``fakescope scan`` and ``fakescope evaluate``: the crops come from the extraction cache
(``fakescope.extraction``), every face of every sampled frame is scored in batches, logits are
calibrated with the card's temperature, then aggregated:

``mean_of_max`` (default)
    per frame, the most suspicious face; the video is the mean over frames.
``topk``
    the mean of the ``k`` most suspicious frames (frames scored as in ``mean_of_max``).
``max_track``
    each track's mean over its frames; the video is its most suspicious track.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cache import CacheEntry
from .calibration import sigmoid

__all__ = [
    "AGGREGATIONS",
    "VideoScores",
    "aggregate",
    "extract_settings_for",
    "score_entry",
    "video_calibrator",
]

AGGREGATIONS = ("mean_of_max", "topk", "max_track")


def extract_settings_for(card: Any, frames: int | None = None) -> Any:
    """The extraction settings a checkpoint was made for (crop geometry, detector, frames)."""
    from ..extraction import ExtractSettings
    from ..faces import CropSettings

    crop = card.crop
    return ExtractSettings(
        sampling=f"uniform:{frames or card.frames_per_video}",
        detector=crop.get("detector", "yunet"),
        crop=CropSettings(margin=float(crop.get("margin", 1.3)), size=int(crop.get("size", 256))),
    )


@dataclass
class VideoScores:
    """Per-face logits of one video: parallel arrays, one element per (track, sampled frame)."""

    track: np.ndarray  # int
    frame: np.ndarray  # position in the sampled frames
    index: np.ndarray  # frame index in the video
    timestamp: np.ndarray  # seconds
    logit: np.ndarray  # raw model logits
    files: list[str] = field(default_factory=list)  # crop PNG of each face

    def __len__(self) -> int:
        return len(self.logit)

    def probabilities(self, temperature: float = 1.0) -> np.ndarray:
        return np.asarray(sigmoid(self.logit / float(temperature)), np.float64)


def score_entry(
    entry: CacheEntry,
    detector: Any,
    *,
    max_tracks: int = 0,
    batch_size: int = 32,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> VideoScores:
    """Run ``detector`` on every cached crop of the entry's tracks (first ``max_tracks`` if > 0);
    ``transform`` changes each track's (T, H, W, 3) crops first (robustness tests)."""
    tracks = entry.tracks[:max_tracks] if max_tracks else entry.tracks
    cols: dict[str, list[Any]] = {
        "track": [],
        "frame": [],
        "index": [],
        "timestamp": [],
        "files": [],
    }
    crops = []
    for t in tracks:
        images = entry.load_crops(t["track_id"])
        if transform is not None:
            images = transform(images)
        crops.append(images)
        n = len(images)
        cols["track"] += [t["track_id"]] * n
        cols["frame"] += list(t["frames"])
        cols["index"] += list(t["frame_indices"])
        cols["timestamp"] += list(t["timestamps"])
        cols["files"] += [str(p) for p in entry.crop_paths(t["track_id"])]
    logits = (
        detector.logits(np.concatenate(crops), batch_size) if crops else np.zeros(0, np.float32)
    )
    return VideoScores(
        np.asarray(cols["track"], np.int64), np.asarray(cols["frame"], np.int64),
        np.asarray(cols["index"], np.int64), np.asarray(cols["timestamp"], np.float64),
        np.asarray(logits, np.float64), cols["files"],
    )  # fmt: skip


def video_calibrator(card: Any) -> Any:
    """The card's video-level calibration map (``VideoCalibrator``), or None."""
    if not getattr(card, "calibration", None):
        return None
    from .video_calibration import VideoCalibrator

    return VideoCalibrator.from_dict(card.calibration)


def aggregate(
    scores: VideoScores,
    temperature: float = 1.0,
    how: str = "mean_of_max",
    k: int = 5,
    calibration: Any = None,
) -> dict[str, Any]:
    """Video probability, per-track probabilities and the per-frame timeline.

    Returns ``{"probability", "tracks": {id: prob}, "frames": [{"frame", "index", "timestamp",
    "faces": {track: prob}, "max"}]}``; ``probability`` is None when there is no face.
    With a video-level ``calibration`` map (``VideoCalibrator``), the rule runs on the raw
    probabilities (T = 1) and every figure is then mapped through it (``temperature`` unused).
    """
    if how not in AGGREGATIONS:
        from ..errors import ConfigError

        raise ConfigError(
            f"aggregation: unknown rule '{how}'; choose from {', '.join(AGGREGATIONS)}"
        )
    out = _aggregate(scores, 1.0 if calibration is not None else temperature, how, k)
    if calibration is None or out["probability"] is None:
        return out
    from .calibration import logit

    def cal(values: list[float]) -> list[float]:
        return [float(v) for v in calibration.predict_proba(logit(np.asarray(values, float)))]

    out["probability"] = cal([out["probability"]])[0]
    out["tracks"] = dict(zip(out["tracks"], cal(list(out["tracks"].values()))))
    for fr in out["frames"]:
        fr["faces"] = dict(zip(fr["faces"], cal(list(fr["faces"].values()))))
        fr["max"] = max(fr["faces"].values())
    return out


def _aggregate(scores: VideoScores, temperature: float, how: str, k: int) -> dict[str, Any]:
    p = scores.probabilities(temperature)
    tracks = {int(t): float(p[scores.track == t].mean()) for t in np.unique(scores.track)}
    frames = []
    for f in np.unique(scores.frame):
        sel = scores.frame == f
        faces = {int(t): float(v) for t, v in zip(scores.track[sel], p[sel])}
        i = int(np.flatnonzero(sel)[0])
        frames.append(
            {"frame": int(f), "index": int(scores.index[i]), "timestamp": float(scores.timestamp[i]),
             "faces": faces, "max": max(faces.values())}
        )  # fmt: skip
    if not frames:
        return {"probability": None, "tracks": {}, "frames": []}
    per_frame = np.array([fr["max"] for fr in frames])
    if how == "mean_of_max":
        prob = float(per_frame.mean())
    elif how == "topk":
        prob = float(np.sort(per_frame)[::-1][: max(1, k)].mean())
    else:
        prob = max(tracks.values())
    return {"probability": prob, "tracks": tracks, "frames": frames}
