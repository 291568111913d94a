"""Scoring a cached video with an audio-visual model (``kind: av``; issue 13 §5).

Each face track (sampled at the card's ``audio.sampling``, 5 FPS for seed 001) is cut into
windows of S consecutive 1-s segments (every second, the last window ending on the track's
last consecutive crop); each window goes through the network with the 1-s audio windows that
start at its segments' first crops (``io.audio.segment_windows``). Every segment keeps its
logit (the mean over the windows that contain it) and every crop the logit of its segment,
so the video's probability, the timeline and the report are the shared pipeline's.

The audio comes from the cache entry (``CacheEntry.load_audio``). A video without an audio
track: the model's card allows the video branch alone (``audio.fallback``) and the result
says so, or nothing is scored and the reason says why (``status: no_audio``). A broken audio
stream: ``AudioError`` (one line) unless the card allows the fallback, which is then used
and the warning carries the error; frame and clip models never read the audio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..cache import CacheEntry
from ..errors import AudioError

__all__ = ["NO_AUDIO", "audio_summary", "score_av", "track_windows_av"]

NO_AUDIO = "no_audio"
ENVELOPE_HZ = 50  # waveform points per second in the result (RMS of 20-ms blocks)


def track_windows_av(times: np.ndarray, segments: int, segment_frames: int) -> list[int]:
    """Start positions of the windows scored on a track: every ``segment_frames`` crops over
    each run of consecutive crops, the last one moved back to end on the run's last crop."""
    from ..training.av_data import track_starts

    need = segments * segment_frames
    starts = track_starts(times, need, 1.0 / segment_frames)
    if not starts:
        return []
    out: list[int] = []
    run_start = starts[0]
    for k, p in enumerate(starts):
        if k and p != starts[k - 1] + 1:  # a new run of consecutive crops
            if out[-1] != starts[k - 1]:
                out.append(starts[k - 1])
            run_start = p
        if (p - run_start) % segment_frames == 0:
            out.append(p)
    if out[-1] != starts[-1]:
        out.append(starts[-1])
    return out


def audio_summary(audio: Any, speech: list[tuple[float, float]] | None) -> dict[str, Any]:
    """The waveform envelope (RMS at ``ENVELOPE_HZ``) and speech segments for the report."""
    sr = int(audio.sample_rate)
    block = max(1, sr // ENVELOPE_HZ)
    n = len(audio.samples) // block
    rms = (
        np.sqrt((audio.samples[: n * block].reshape(n, block).astype(np.float64) ** 2).mean(1))
        if n
        else np.zeros(0)
    )
    return {
        "sample_rate": sr,
        "start": round(float(audio.start), 4),
        "duration": round(float(audio.duration), 4),
        "envelope_hz": ENVELOPE_HZ,
        "envelope": [round(float(v), 4) for v in rms],
        "speech": [[round(s, 3), round(e, 3)] for s, e in (speech or [])],
    }


def score_av(
    entry: CacheEntry,
    tracks: list[dict[str, Any]],
    detector: Any,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    batch_windows: int = 8,
) -> Any:
    """``VideoScores`` of an av model (see the module docstring); ``segments`` holds one dict
    per scored segment (track, start, end, logit, modality) and ``audio`` the waveform
    envelope, the speech segments and how the audio was used."""
    from ..io.audio import segment_windows, speech_segments
    from ..training.av_data import entry_audio
    from .pipeline import _add_track, _columns, _scores

    config = detector.config
    s_n, f_n = int(config.segments), int(config.segment_frames)
    warnings: list[str] = []
    try:
        audio = entry_audio(entry)
        broken = None
    except AudioError as exc:
        audio, broken = None, exc
    if audio is None and not detector.fallback:
        if broken is not None:
            raise broken
        return _scores(
            _columns(),
            [],
            reason=f"no audio track: {detector.card.name} compares the lips with the speech "
            "and has no video-only fallback",
            audio={"status": NO_AUDIO, "fallback": False},
        )
    if audio is None:
        why = f"the audio stream is broken ({broken})" if broken else "the video has no audio"
        warnings.append(f"{why}: scored by the video branch alone (the card allows it)")
    caution = (detector.card.audio or {}).get("warning")
    if caution:  # e.g. a shipped model whose held-out figures are below its target
        warnings.append(str(caution))
    modality = "audio-visual" if audio is not None else "video"
    cols = _columns()
    logits: list[np.ndarray] = []
    segs: dict[tuple[int, float], list[float]] = {}
    seg_end: dict[tuple[int, float], float] = {}
    for t in tracks:
        times = np.asarray(t["timestamps"], np.float64)
        starts = track_windows_av(times, s_n, f_n)
        if not starts:
            continue
        images = entry.load_crops(t["track_id"])
        if transform is not None:
            images = transform(images)
        n = len(images)
        crops = np.stack([images[p : p + s_n * f_n] for p in starts])
        crops = crops.reshape(len(starts), s_n, f_n, *images.shape[1:])
        seg_times = [[float(times[p + k * f_n]) for k in range(s_n)] for p in starts]
        wave = None
        if audio is not None:
            flat = segment_windows(audio, [x for row in seg_times for x in row], 1.0)
            wave = flat.reshape(len(starts), s_n, -1)
        out = detector.av_outputs(crops, wave, batch_windows)
        sums, counts = np.zeros(n), np.zeros(n)
        tid = int(t["track_id"])
        for w, p in enumerate(starts):
            for k in range(s_n):
                lo, hi = p + k * f_n, p + (k + 1) * f_n
                z = float(out["segment_logits"][w, k])
                sums[lo:hi] += z
                counts[lo:hi] += 1
                key = (tid, round(seg_times[w][k], 4))
                segs.setdefault(key, []).append(z)
                seg_end[key] = float(times[hi - 1]) + 1.0 / f_n
        scored = counts > 0
        logits.append((sums[scored] / counts[scored]).astype(np.float64))
        _add_track(cols, entry, t, np.flatnonzero(scored).tolist())
    segments = [
        {"track": tid, "start": start, "end": round(seg_end[(tid, start)], 4),
         "logit": float(np.mean(v)), "modality": modality}
        for (tid, start), v in sorted(segs.items())
    ]  # fmt: skip
    summary: dict[str, Any] = {"status": "ok" if audio is not None else NO_AUDIO}
    if audio is not None:
        summary.update(audio_summary(audio, speech_segments(audio)))
    summary["fallback"] = audio is None
    if broken is not None:
        summary["error"] = str(broken)
    summary["warnings"] = warnings
    reason = None
    if not logits:
        reason = (
            f"no face track with {s_n} s of consecutive crops ({s_n * f_n} crops at "
            f"{f_n} FPS): the audio-visual model scores {s_n}-s windows"
        )
    return _scores(
        cols,
        np.concatenate(logits) if logits else np.zeros(0),
        reason=reason,
        segments=segments,
        audio=summary,
    )
