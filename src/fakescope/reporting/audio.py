"""The report's sound section for audio-visual models (issue 13 §5): under the timeline, on
the same time axis, the waveform (RMS envelope), the speech that silero VAD found and each
face track's 1-s segment scores (bar height and colour = probability of fake)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["audio_section", "audio_svg"]

_WAVE_H, _VAD_H, _LANE_H, _GAP = 56, 10, 34, 8


def _heat(p: float) -> str:
    return f"hsl({140 * (1 - min(max(p, 0.0), 1.0)):.0f},62%,42%)"


def audio_svg(result: dict[str, Any], width: int = 900) -> str:
    """Waveform, speech spans and segment bars of a ``ScanResult.to_dict()`` as inline SVG."""
    audio = result.get("audio") or {}
    segments = result.get("segments") or []
    env = audio.get("envelope") or []
    hz = float(audio.get("envelope_hz") or 50)
    a0 = float(audio.get("start") or 0.0)
    ends = [p["time"] for p in result.get("timeline", [])] + [s["end"] for s in segments]
    ends += [a0 + len(env) / hz] if env else []
    t_end = max(ends) if ends else 1.0
    t_end = t_end or 1.0
    tracks = sorted({int(s.get("track_id", 0)) for s in segments})
    pad_l, pad_r, pad_t, pad_b = 64, 10, 6, 24
    height = pad_t + _WAVE_H + _GAP + _VAD_H + _GAP + len(tracks) * (_LANE_H + _GAP) + pad_b
    x = lambda t: pad_l + (width - pad_l - pad_r) * (t / t_end)  # noqa: E731
    parts = [f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' aria-label='audio'>"]
    mid = pad_t + _WAVE_H / 2
    parts.append(
        f"<text x='{pad_l - 6}' y='{mid + 4:.1f}' font-size='11' text-anchor='end' "
        "fill='#667085'>sound</text>"
    )
    if env:
        peak = max(max(env), 1e-6)
        step = max(1, len(env) // 900)  # at most ~900 bars
        for i in range(0, len(env), step):
            v = max(env[i : i + step]) / peak * (_WAVE_H / 2 - 1)
            t = a0 + i / hz
            parts.append(
                f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{mid - v:.1f}' y2='{mid + v:.1f}' "
                "stroke='#5d6d7e' stroke-width='1'/>"
            )
    else:
        parts.append(
            f"<text x='{pad_l + 6}' y='{mid + 4:.1f}' font-size='12' fill='#b03a2e'>"
            "no audio track</text>"
        )
    top = pad_t + _WAVE_H + _GAP
    parts.append(
        f"<text x='{pad_l - 6}' y='{top + 9}' font-size='11' text-anchor='end' "
        "fill='#667085'>speech</text>"
        f"<rect x='{pad_l}' y='{top}' width='{width - pad_l - pad_r}' height='{_VAD_H}' "
        "fill='#f2f3f5'/>"
    )
    for s, e in audio.get("speech") or []:
        parts.append(
            f"<rect x='{x(s):.1f}' y='{top}' width='{max(1.0, x(e) - x(s)):.1f}' "
            f"height='{_VAD_H}' fill='#2e86c1'><title>speech {s:.2f}-{e:.2f}s</title></rect>"
        )
    top += _VAD_H + _GAP
    for tid in tracks:
        parts.append(
            f"<text x='{pad_l - 6}' y='{top + _LANE_H / 2 + 4:.1f}' font-size='11' "
            f"text-anchor='end' fill='#667085'>face {tid}</text>"
            f"<rect x='{pad_l}' y='{top}' width='{width - pad_l - pad_r}' height='{_LANE_H}' "
            "fill='#f7f8fa'/>"
        )
        for s in (s for s in segments if int(s.get("track_id", 0)) == tid):
            p = float(s["probability"])
            h = max(2.0, p * _LANE_H)
            parts.append(
                f"<rect x='{x(s['start']) + 0.5:.1f}' y='{top + _LANE_H - h:.1f}' "
                f"width='{max(1.0, x(s['end']) - x(s['start']) - 1):.1f}' height='{h:.1f}' "
                f"fill='{_heat(p)}'><title>face {tid}, {s['start']:.2f}-{s['end']:.2f}s "
                f"({html.escape(str(s['modality']))}): {p:.3f}</title></rect>"
            )
        top += _LANE_H + _GAP
    for k in range(6):
        t = t_end * k / 5
        parts.append(
            f"<text x='{x(t):.1f}' y='{height - 8}' font-size='11' text-anchor='middle' "
            f"fill='#667085'>{t:.1f}s</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def audio_section(result: dict[str, Any]) -> list[str]:
    """The report's "Sound and segments" section (HTML parts)."""
    audio = result.get("audio") or {}
    note = (
        "The waveform of the audio track, the speech silero VAD found in it, and the "
        "probability of fake of every 1-s segment of each face (audio-visual models score "
        "whether the lips move with the speech)."
    )
    if audio.get("fallback"):
        note += " No usable audio: the segments were scored by the video branch alone."
    return [
        "<h2>Sound and segments</h2><div class='card'>",
        audio_svg(result),
        f"<p class='muted'>{html.escape(note)}</p></div>",
    ]
