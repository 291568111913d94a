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
    """The extraction settings a checkpoint was made for (crop geometry, detector, frames; a
    signals card also turns on the context windows and frame runs its signals read, and a
    flow card the runs of consecutive frames its flow is computed on)."""
    from ..extraction import ContextSettings, ExtractSettings
    from ..faces import CropSettings

    crop = card.crop
    context = None
    signals = getattr(card, "signals", None)
    if signals is not None or (card.model or {}).get("kind") == "signals":
        context = ContextSettings(**((signals or {}).get("context") or {}))
    flow = getattr(card, "flow", None)
    if flow is not None or (card.model or {}).get("inputs") == "flow":  # seed 003: frame runs
        context = ContextSettings(**((flow or {}).get("context") or {}))
    audio = getattr(card, "audio", None)  # av models: consecutive crops at the card's FPS
    return ExtractSettings(
        sampling=str(audio["sampling"])
        if audio and (card.model or {}).get("kind") == "av"
        else f"uniform:{frames or card.frames_per_video}",
        detector=crop.get("detector", "yunet"),
        crop=CropSettings(margin=float(crop.get("margin", 1.3)), size=int(crop.get("size", 256))),
        context=context,
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
    # clip models: one dict per scored clip (track, first/last position in the track, first/
    # last video frame index, start/end seconds, raw logit, padded, real frames); a face's
    # logit is then the mean of the clips that cover it
    clips: list[dict[str, Any]] = field(default_factory=list)
    inconsistency: np.ndarray | None = None  # per face (identity-consistency head), or None
    reason: str | None = None  # why nothing was scored (no track long enough for a clip model)
    # signals models: the video's feature values, SHAP contributions, base value, missing
    # features and the training distribution (``SignalsDetector.describe``)
    signals: dict[str, Any] | None = None
    # flow models (seed 003): per frame pair of each track, the motion anomaly and the flow
    # image files (``inference.flow.score_flow``)
    motion: dict[str, Any] | None = None
    # av models (issue 13): one dict per scored 1-s segment (track, start, end, logit,
    # modality) and the audio used (waveform envelope, speech, fallback; ``inference.av``)
    segments: list[dict[str, Any]] | None = None
    audio: dict[str, Any] | None = None

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
    family = getattr(detector, "family", "frame")
    if family == "signals":
        return _score_signals(entry, detector, transform)
    if family == "av":  # audio-visual: 1-s segments of crops and sound (inference.av)
        from .av import score_av

        return score_av(entry, tracks, detector, transform, max(1, batch_size // 4))
    if family == "clip" and detector.config.inputs == "flow":  # seed 003: flow image pairs
        from .flow import score_flow

        return score_flow(entry, tracks, detector, max(1, batch_size // 8), transform)
    if family == "clip":
        return _score_clips(entry, tracks, detector, transform, max(1, batch_size // 8))
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


def _score_clips(
    entry: CacheEntry,
    tracks: list[dict[str, Any]],
    detector: Any,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    batch_clips: int = 4,
) -> VideoScores:
    """Clip models: each track cut into windows of T sampled crops (``stride`` apart, the last
    window ending on the last crop; a shorter track padded with its last crop and flagged),
    scored in batches; each face gets the mean logit of the clips that cover it."""
    from ..training.data import track_windows

    config = detector.config
    t_clip, stride = int(config.frames_per_clip), int(config.stride)
    cols: dict[str, list[Any]] = {k: [] for k in ("track", "frame", "index", "timestamp", "files")}
    logits: list[np.ndarray] = []
    curves: list[np.ndarray | None] = []
    clips: list[dict[str, Any]] = []
    shortest = config.min_track_frames
    for t in tracks:
        if len(t["frames"]) < shortest:
            continue
        images = entry.load_crops(t["track_id"])
        if transform is not None:
            images = transform(images)
        n = len(images)
        windows = track_windows(n, t_clip, stride)
        out = detector.clip_outputs(np.stack([images[w] for w, _ in windows]), batch_clips)
        sums, counts = np.zeros(n), np.zeros(n)
        curve_sum = np.zeros(n)
        for k, (w, padded) in enumerate(windows):
            real = sorted(set(w))
            sums[real] += out["logit"][k]
            counts[real] += 1
            if out["inconsistency"] is not None:
                curve_sum[real] += out["inconsistency"][k][: len(real)]
            first, last = real[0], real[-1]
            clips.append(
                {"track": int(t["track_id"]), "first": first, "last": last,
                 "first_index": int(t["frame_indices"][first]), "last_index": int(t["frame_indices"][last]),
                 "start": float(t["timestamps"][first]), "end": float(t["timestamps"][last]),
                 "logit": float(out["logit"][k]), "padded": bool(padded), "frames": len(real)}
            )  # fmt: skip
        logits.append(sums / np.maximum(counts, 1))
        curves.append(
            curve_sum / np.maximum(counts, 1) if out["inconsistency"] is not None else None
        )
        cols["track"] += [t["track_id"]] * n
        cols["frame"] += list(t["frames"])
        cols["index"] += list(t["frame_indices"])
        cols["timestamp"] += list(t["timestamps"])
        cols["files"] += [str(p) for p in entry.crop_paths(t["track_id"])]
    have_curves = bool(curves) and all(c is not None for c in curves)
    reason = None
    if not logits:
        reason = (
            f"no face track of at least {shortest} sampled frames (the clip model takes "
            f"{t_clip}-frame clips; shorter tracks are padded with their last frame)"
        )
    return VideoScores(
        np.asarray(cols["track"], np.int64), np.asarray(cols["frame"], np.int64),
        np.asarray(cols["index"], np.int64), np.asarray(cols["timestamp"], np.float64),
        np.concatenate(logits).astype(np.float64) if logits else np.zeros(0),
        cols["files"], clips,
        np.concatenate([c for c in curves if c is not None]) if have_curves else None,
        reason,
    )  # fmt: skip


def _score_signals(
    entry: CacheEntry, detector: Any, transform: Callable[[np.ndarray], np.ndarray] | None
) -> VideoScores:
    """Signals models: one logit for the whole video, given to every face of its main track
    (so aggregation, calibration and the verdict are shared code), with the signal values
    and their SHAP contributions."""
    if transform is not None:
        from ..errors import ModelError

        raise ModelError(
            f"{detector.card.name} is a signals model: crop perturbations do not apply (it "
            "reads the cache entry's windows and frame runs); perturb the videos instead"
        )
    described = detector.describe(entry)
    if described is None:
        empty = np.zeros(0, np.int64)
        return VideoScores(
            empty, empty, empty, np.zeros(0), np.zeros(0),
            reason="no face track to compute the forensic signals on",
        )  # fmt: skip
    t = entry.tracks[described["track"]]
    n = len(t["frames"])
    return VideoScores(
        np.full(n, int(t["track_id"]), np.int64), np.asarray(t["frames"], np.int64),
        np.asarray(t["frame_indices"], np.int64), np.asarray(t["timestamps"], np.float64),
        np.full(n, described["logit"], np.float64),
        [str(p) for p in entry.crop_paths(t["track_id"])], signals=described,
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
    "faces": {track: prob}, "max"}], "clips": [clip dict + "probability"]}``; ``probability``
    is None when there is no face; ``clips`` is empty for frame models.
    With a video-level ``calibration`` map (``VideoCalibrator``), the rule runs on the raw
    probabilities (T = 1) and every figure is then mapped through it (``temperature`` unused).
    """
    if how not in AGGREGATIONS:
        from ..errors import ConfigError

        raise ConfigError(
            f"aggregation: unknown rule '{how}'; choose from {', '.join(AGGREGATIONS)}"
        )
    t = 1.0 if calibration is not None else temperature
    out = _aggregate(scores, t, how, k)
    out["clips"] = [
        {**c, "probability": float(sigmoid(c["logit"] / float(t)))} for c in scores.clips
    ]
    if calibration is None or out["probability"] is None:
        return out
    from .calibration import logit

    def cal(values: list[float]) -> list[float]:
        return [float(v) for v in calibration.predict_proba(logit(np.asarray(values, float)))]

    for c, p in zip(out["clips"], cal([c["probability"] for c in out["clips"]])):
        c["probability"] = p
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
