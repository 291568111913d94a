"""Scoring with a flow clip model (seed 003, ``ModelConfig.inputs == "flow"``).

Each face track's frame pairs (``forensics.flow``: runs of consecutive frames around each
sampled frame, Farneback flow, one flow image per pair) are cut into windows of
``frames_per_clip`` pairs, ``stride`` apart (the last one ending on the last pair; a shorter
track padded with its last pair), and scored as clips. Each pair gets the mean logit of the
clips that cover it and each sampled face the mean of its run's pairs, so aggregation,
calibration and the verdict are the shared code. ``VideoScores.motion`` carries, per pair,
its time, the motion anomaly (the flow discontinuity at the face boundary), the flow's
magnitude, the pair's logit and its flow image (for the report's heatmaps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..cache import CacheEntry
from ..errors import ModelError
from ..forensics.flow import FlowSettings, entry_flow
from .pipeline import VideoScores, _add_track, _columns, _scores

__all__ = ["ANOMALY", "flow_settings_of", "score_flow"]

ANOMALY = (
    "per frame pair: |mean flow magnitude on the ring-pixel band just inside the face box - "
    "mean magnitude inside it|, pixels per frame at the flow window's size (the per-pair form "
    "of the flow_boundary signal; ring in settings)"
)


def flow_settings_of(card: Any) -> FlowSettings:
    """The flow settings a flow model's card was trained with (defaults for an older card)."""
    flow = getattr(card, "flow", None) or {}
    return FlowSettings.from_dict({k: v for k, v in flow.items() if k in ("farneback", "ring")})


def score_flow(
    entry: CacheEntry,
    tracks: list[dict[str, Any]],
    detector: Any,
    batch_clips: int = 4,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> VideoScores:
    """Score ``tracks`` of ``entry`` with a flow clip model (see the module docstring)."""
    from ..training.windows import track_windows  # not training.data: no PyTorch import

    if transform is not None:
        raise ModelError(
            f"{detector.card.name} is a flow model: crop perturbations do not apply (it reads "
            "flow between consecutive frames); perturb the videos instead"
        )

    config = detector.config
    t_clip, stride = int(config.frames_per_clip), int(config.stride)
    shortest = config.min_track_frames
    settings = flow_settings_of(detector.card)
    flows = entry_flow(entry, settings)
    fps = float(entry.meta.get("video", {}).get("fps") or 0.0)
    dt = 1.0 / fps if fps > 0 else 0.0
    cols = _columns()
    logits: list[float] = []
    clips: list[dict[str, Any]] = []
    motion_tracks: list[dict[str, Any]] = []
    for t in tracks:
        tid = int(t["track_id"])
        tf = flows.get(tid)
        if tf is None or len(tf) < shortest:
            continue
        images = tf.load()
        n = len(images)
        windows = track_windows(n, t_clip, stride)
        out = detector.clip_outputs(np.stack([images[w] for w, _ in windows]), batch_clips)
        sums, counts = np.zeros(n), np.zeros(n)
        for k, (w, padded) in enumerate(windows):
            real = sorted(set(w))
            sums[real] += out["logit"][k]
            counts[real] += 1
            first, last = real[0], real[-1]
            clips.append(
                {"track": tid, "first": int(tf.anchor[first]), "last": int(tf.anchor[last]),
                 "first_index": int(tf.frame_index[first]),
                 "last_index": int(tf.frame_index[last]) + 1,  # the last pair's second frame
                 "start": float(tf.timestamp[first]), "end": float(tf.timestamp[last]) + dt,
                 "logit": float(out["logit"][k]), "padded": bool(padded), "frames": len(real)}
            )  # fmt: skip
        pair_logit = sums / np.maximum(counts, 1)
        runs = t["context"]["files"]
        anchors = [int(a) for a in np.unique(tf.anchor)]
        for a in anchors:  # each sampled face: the mean over its run's pairs
            logits.append(float(pair_logit[tf.anchor == a].mean()))
        _add_track(cols, entry, t, anchors)
        motion_tracks.append(
            {"track_id": tid,
             "pairs": [{"time": round(float(tf.timestamp[i]), 4),
                        "frame_index": int(tf.frame_index[i]),
                        "anomaly": _num(tf.anomaly[i]), "mean_magnitude": _num(tf.mean_magnitude[i]),
                        "logit": round(float(pair_logit[i]), 5), "file": str(tf.files[i]),
                        "window": str(entry.root / "context" / runs[tf.anchor[i]][tf.offset[i]])}
                       for i in range(n)]}
        )  # fmt: skip
    reason = None
    if not logits:
        reason = (
            "no frame pairs to score: the cache entry has no runs of consecutive frames"
            if not flows
            else f"no face track with at least {shortest} frame pairs (the flow model takes "
            f"{t_clip}-pair clips; shorter tracks are padded with their last pair)"
        )
    motion = (
        {"anomaly": ANOMALY, "settings": settings.to_dict(), "tracks": motion_tracks}
        if motion_tracks
        else None
    )
    return _scores(cols, logits, clips=clips, reason=reason, motion=motion)


def _num(v: float) -> float | None:
    return round(float(v), 5) if np.isfinite(v) else None
