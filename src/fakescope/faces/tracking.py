"""Link per-frame face detections into tracks across the sampled frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import FaceBox, FaceTrack

__all__ = ["TrackingSettings", "box_iou", "build_tracks"]

_INFEASIBLE = 1e6


def _assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of rows to columns. One track or one face (the usual case) is
    the cheapest cell; otherwise SciPy's Hungarian solver, imported only then (it costs about
    half a second to import, a large part of a one-video ``fakescope scan``)."""
    if cost.shape[0] == 1 or cost.shape[1] == 1:
        r, c = np.unravel_index(int(np.argmin(cost)), cost.shape)
        return np.array([r]), np.array([c])
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return np.asarray(rows), np.asarray(cols)


def box_iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _link_cost(last: FaceBox, det: FaceBox, iou_threshold: float, max_shift: float) -> float:
    """Cost of continuing a track ending in ``last`` with ``det``: lower is better."""
    iou = box_iou(last, det)
    if iou >= iou_threshold:
        return 1.0 - iou
    ratio = det.area / last.area
    if not 0.4 <= ratio <= 2.5:
        return _INFEASIBLE
    (ax, ay), (bx, by) = last.center, det.center
    size = float(np.sqrt(last.area))
    shift = float(np.hypot(ax - bx, ay - by)) / size
    if shift > max_shift:
        return _INFEASIBLE
    return 1.0 + shift


@dataclass(frozen=True)
class TrackingSettings:
    """How detections are linked (see ``build_tracks``); part of the crop cache key."""

    iou_threshold: float = 0.3
    max_shift: float = 1.5
    max_gap: int = 4
    min_frames: int = 1

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        if not 0.0 < self.iou_threshold <= 1.0:
            raise ConfigError("tracking.iou_threshold must be within (0, 1]")
        if self.max_shift < 0 or self.max_gap < 0:
            raise ConfigError("tracking.max_shift and tracking.max_gap must be >= 0")
        if self.min_frames < 1:
            raise ConfigError("tracking.min_frames must be >= 1")

    def to_dict(self) -> dict[str, float]:
        return {
            "iou_threshold": self.iou_threshold,
            "max_shift": self.max_shift,
            "max_gap": self.max_gap,
            "min_frames": self.min_frames,
        }


@dataclass
class _Open:
    frames: list[int] = field(default_factory=list)
    boxes: list[FaceBox] = field(default_factory=list)


def build_tracks(
    detections: Sequence[Sequence[FaceBox]], settings: TrackingSettings | None = None
) -> list[FaceTrack]:
    """Group ``detections[i]`` (faces in sampled frame i) into tracks.

    Detections are linked frame to frame by an optimal assignment on box overlap, falling back
    to centre distance (in face sizes, at most ``max_shift``) for faces that moved between
    sparse samples. A track survives up to ``max_gap`` sampled frames without a detection.
    Tracks are ordered by size x persistence (mean box area x number of frames), largest first,
    and numbered in that order.
    """
    cfg = settings or TrackingSettings()
    iou_threshold, max_shift, max_gap = cfg.iou_threshold, cfg.max_shift, cfg.max_gap
    active: list[_Open] = []
    finished: list[_Open] = []
    for t, faces in enumerate(detections):
        faces = list(faces)
        # retire tracks that have been missing for too long
        still: list[_Open] = []
        for tr in active:
            (finished if t - tr.frames[-1] > max_gap + 1 else still).append(tr)
        active = still
        matched: set[int] = set()
        if active and faces:
            cost = np.array(
                [
                    [_link_cost(tr.boxes[-1], f, iou_threshold, max_shift) for f in faces]
                    for tr in active
                ]
            )
            rows, cols = _assign(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _INFEASIBLE:
                    active[r].frames.append(t)
                    active[r].boxes.append(faces[c])
                    matched.add(c)
        for c, face in enumerate(faces):
            if c not in matched:
                active.append(_Open([t], [face]))
    finished.extend(active)
    kept = [tr for tr in finished if len(tr.frames) >= cfg.min_frames]
    kept.sort(
        key=lambda tr: (-(np.mean([b.area for b in tr.boxes]) * len(tr.frames)), tr.frames[0])
    )
    return [FaceTrack(i, tuple(tr.frames), tuple(tr.boxes)) for i, tr in enumerate(kept)]
