"""Clip windows over a face track (no PyTorch: scans import this without the training stack)."""

from __future__ import annotations

__all__ = ["track_windows"]


def track_windows(n: int, clip_frames: int, stride: int) -> list[tuple[list[int], bool]]:
    """Windows of ``clip_frames`` positions over a track of ``n`` crops, ``stride`` apart; the
    last window is moved back to end on the last crop so that every crop is covered. A track
    shorter than the clip gives one window padded with its last position (flagged True)."""
    if n <= 0:
        return []
    if n < clip_frames:
        return [(list(range(n)) + [n - 1] * (clip_frames - n), True)]
    starts = list(range(0, n - clip_frames + 1, max(1, stride)))
    if starts[-1] != n - clip_frames:
        starts.append(n - clip_frames)
    return [(list(range(s, s + clip_frames)), False) for s in starts]
