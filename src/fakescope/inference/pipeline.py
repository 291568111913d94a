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

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from ..cache import CacheEntry
from ..types import VideoScores
from .calibration import sigmoid

__all__ = [
    "AGGREGATIONS",
    "ScoringDetector",
    "VideoScores",
    "aggregate",
    "extract_settings_for",
    "score_clips",
    "score_entry",
    "score_frames",
    "score_signals",
    "video_calibrator",
]

AGGREGATIONS = ("mean_of_max", "topk", "max_track")


def extract_settings_for(card: Any, frames: int | None = None) -> Any:
    """The extraction settings a checkpoint was made for (crop geometry, detector, frames; a
    signals card also turns on the context windows and frame runs its signals read, and a
    flow card the runs of consecutive frames its flow is computed on; an ensemble card the
    union of its members' settings, ``models.ensemble.merge_extract_settings``)."""
    from ..extraction import ContextSettings, ExtractSettings
    from ..faces import CropSettings

    if (card.model or {}).get("kind") == "ensemble":  # one extraction serves every member
        from ..models.ensemble import ensemble_extract_settings

        return ensemble_extract_settings(card, frames)
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


class ScoringDetector(Protocol):
    """The detector contract (``models.detector``): every family's detector answers these,
    so scans, evaluation and the service never branch on the family."""

    @property
    def family(self) -> str: ...

    def score(
        self,
        entry: Any,
        tracks: list[dict[str, Any]],
        *,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        batch_size: int = 32,
    ) -> VideoScores: ...

    def shape(self) -> dict[str, Any]: ...


def score_entry(
    entry: CacheEntry,
    detector: ScoringDetector,
    *,
    max_tracks: int = 0,
    batch_size: int = 32,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> VideoScores:
    """Score the entry's tracks (first ``max_tracks`` if > 0) with ``detector.score``, the
    family's own scoring; ``transform`` changes each track's (T, H, W, 3) crops first
    (robustness tests; a family that does not read crops refuses it)."""
    tracks = entry.tracks[:max_tracks] if max_tracks else entry.tracks
    return detector.score(entry, tracks, transform=transform, batch_size=batch_size)


_COLUMNS = ("track", "frame", "index", "timestamp", "files")


def _columns() -> dict[str, list[Any]]:
    """Empty per-face columns (``_COLUMNS``) for ``_add_track`` and ``_scores``."""
    return {k: [] for k in _COLUMNS}


def _add_track(
    cols: dict[str, list[Any]],
    entry: Any,
    track: dict[str, Any],
    positions: Sequence[int] | None = None,
) -> None:
    """Append a track's faces (those at ``positions`` in the track, else all) to ``cols``."""
    files = [str(p) for p in entry.crop_paths(track["track_id"])]
    keep = range(len(track["frames"])) if positions is None else positions
    cols["track"] += [track["track_id"]] * len(keep)
    cols["frame"] += [track["frames"][i] for i in keep]
    cols["index"] += [track["frame_indices"][i] for i in keep]
    cols["timestamp"] += [track["timestamps"][i] for i in keep]
    cols["files"] += [files[i] for i in keep]


def _scores(cols: dict[str, list[Any]], logits: Any, **extra: Any) -> VideoScores:
    """``VideoScores`` of per-face columns (``_columns``) and their logits; ``extra`` fills the
    family's optional fields (``clips``, ``reason``, ``motion``, ...)."""
    return VideoScores(
        track=np.asarray(cols["track"], np.int64),
        frame=np.asarray(cols["frame"], np.int64),
        index=np.asarray(cols["index"], np.int64),
        timestamp=np.asarray(cols["timestamp"], np.float64),
        logit=np.asarray(logits, np.float64),
        files=list(cols["files"]),
        **extra,
    )


def score_frames(
    entry: CacheEntry,
    tracks: list[dict[str, Any]],
    detector: Any,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    batch_size: int = 32,
) -> VideoScores:
    """Frame models: every cached crop of ``tracks`` through ``detector.logits``."""
    cols = _columns()
    crops = []
    for t in tracks:
        images = entry.load_crops(t["track_id"])
        if transform is not None:
            images = transform(images)
        crops.append(images)
        _add_track(cols, entry, t)
    logits = (
        detector.logits(np.concatenate(crops), batch_size) if crops else np.zeros(0, np.float32)
    )
    return _scores(cols, logits)


def score_clips(
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
    cols = _columns()
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
        _add_track(cols, entry, t)
    have_curves = bool(curves) and all(c is not None for c in curves)
    reason = None
    if not logits:
        reason = (
            f"no face track of at least {shortest} sampled frames (the clip model takes "
            f"{t_clip}-frame clips; shorter tracks are padded with their last frame)"
        )
    return _scores(
        cols,
        np.concatenate(logits) if logits else np.zeros(0),
        clips=clips,
        inconsistency=np.concatenate([c for c in curves if c is not None]) if have_curves else None,
        reason=reason,
    )


def score_signals(
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
    cols = _columns()
    if described is None:
        return _scores(cols, [], reason="no face track to compute the forensic signals on")
    t = entry.tracks[described["track"]]
    _add_track(cols, entry, t)
    return _scores(cols, np.full(len(t["frames"]), described["logit"]), signals=described)


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
