"""Which frames to take from a video.

A sampling strategy is written as a short string, the same in the CLI, configs and cache keys:

``uniform:N``
    N frames evenly spaced over the whole video (default ``uniform:32``).
``fps:F``
    F frames per second of video time (timestamps, so variable frame rate is handled).
``segments:S`` / ``segments:S:N``
    consecutive clips of S seconds; every frame of each clip, or its first N consecutive frames
    (clips of N frames for temporal models). Each sampled frame carries its segment number.
``all``
    every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["Sampling", "parse_sampling"]

DEFAULT_SAMPLING = "uniform:32"


@dataclass(frozen=True)
class Sampling:
    kind: str
    value: float = 0.0
    per_segment: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("uniform", "fps", "segments", "all"):
            raise ConfigError(f"sampling: unknown strategy '{self.kind}'")
        if self.kind == "uniform" and (self.value < 1 or int(self.value) != self.value):
            raise ConfigError("sampling: uniform:N needs an integer N >= 1")
        if self.kind in ("fps", "segments") and not self.value > 0:
            raise ConfigError(f"sampling: {self.kind} needs a positive number")
        if self.per_segment < 0:
            raise ConfigError("sampling: frames per segment must be >= 0")

    def __str__(self) -> str:
        if self.kind == "all":
            return "all"
        if self.kind == "uniform":
            return f"uniform:{int(self.value)}"
        text = f"{self.kind}:{self.value:g}"
        if self.kind == "segments" and self.per_segment:
            text += f":{self.per_segment}"
        return text

    def select(self, timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame indices to sample, and each one's segment number.

        ``timestamps`` holds the presentation time (seconds) of every frame, in display order.
        Indices are unique and increasing.
        """
        ts = np.asarray(timestamps, dtype=np.float64)
        n = len(ts)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.kind == "all":
            idx = np.arange(n, dtype=np.int64)
            return idx, np.zeros(n, np.int64)
        if self.kind == "uniform":
            k = min(int(self.value), n)
            # centre of each of k equal bins: never the very first/last frame only, stable for k=1
            idx = np.floor((np.arange(k) + 0.5) * n / k).astype(np.int64)
            idx = np.unique(np.clip(idx, 0, n - 1))
            return idx, np.zeros(len(idx), np.int64)
        t0 = ts[0]
        rel = ts - t0
        if self.kind == "fps":
            step = 1.0 / self.value
            targets = np.arange(0.0, rel[-1] + 1e-9, step)
            # nearest frame at or after each target time
            pos = np.searchsorted(rel, targets - 1e-6, side="left")
            idx = np.unique(np.clip(pos, 0, n - 1))
            return idx.astype(np.int64), np.zeros(len(idx), np.int64)
        # segments
        seg = np.floor(rel / self.value + 1e-9).astype(np.int64)
        if not self.per_segment:
            return np.arange(n, dtype=np.int64), seg
        keep = np.zeros(n, bool)
        for s in np.unique(seg):
            members = np.flatnonzero(seg == s)[: self.per_segment]
            keep[members] = True
        idx = np.flatnonzero(keep).astype(np.int64)
        return idx, seg[idx]


def parse_sampling(spec: str | int | Sampling | None) -> Sampling:
    """Parse ``uniform:32``, ``fps:5``, ``segments:2``, ``segments:2:16``, ``all`` or an int N."""
    if spec is None:
        spec = DEFAULT_SAMPLING
    if isinstance(spec, Sampling):
        return spec
    if isinstance(spec, int):
        return Sampling("uniform", float(spec))
    text = str(spec).strip().lower()
    if text.isdigit():
        return Sampling("uniform", float(text))
    parts = text.split(":")
    kind = parts[0]
    try:
        if kind == "all" and len(parts) == 1:
            return Sampling("all")
        if kind in ("uniform", "fps") and len(parts) == 2:
            return Sampling(kind, float(parts[1]))
        if kind == "segments" and len(parts) in (2, 3):
            per = int(parts[2]) if len(parts) == 3 else 0
            return Sampling(kind, float(parts[1]), per)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"sampling: cannot parse '{spec}': {exc}") from None
    raise ConfigError(
        f"sampling: cannot parse '{spec}'; use uniform:N, fps:F, segments:S[:N] or all"
    )
