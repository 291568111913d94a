"""A self-contained HTML report of a scan: verdict, timeline, suspicious faces with heatmaps,
tracks, video metadata and model card. Images are inlined; the page needs no network."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_text
from .sections import render_sections

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 10px}
.card{background:#fff;border-radius:10px;padding:18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.verdict{display:flex;gap:24px;align-items:center}
.badge{font-size:28px;font-weight:700;padding:10px 18px;border-radius:10px;color:#fff}
.fake{background:#c0392b}.real{background:#27865f}.none{background:#7f8c8d}
.prob{font-size:40px;font-weight:700}.muted{color:#667085;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px} td,th{padding:6px 8px;border-bottom:1px solid #eceef2;text-align:left}
.faces{display:flex;flex-wrap:wrap;gap:12px}.face{text-align:center;font-size:12px}
.face img{width:150px;height:150px;border-radius:6px;display:block}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:12px;color:#667085;margin-top:8px}
.warn{background:#fff7e6;border-left:4px solid #f0a500;padding:8px 12px;margin:6px 0;font-size:13px}
"""


def _png(image: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise OSError("cannot encode an image for the report")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def _read(path: str) -> np.ndarray:
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"{path}: cannot read a cached crop")
    return np.asarray(image)


_COLOURS = ["#c0392b", "#2e86c1", "#27865f", "#8e44ad", "#d68910", "#566573"]
_PLOT_H, _LANE_H, _LANE_GAP = 180, 40, 8


def _heat(p: float) -> str:
    """Green (0) through amber to red (1)."""
    return f"hsl({140 * (1 - min(max(p, 0.0), 1.0)):.0f},62%,42%)"


def _timeline_svg(result: dict[str, Any], width: int = 900) -> str:
    """An inline SVG on one time axis: the probability of each face per sampled frame with the
    decision threshold; below it, for clip models, one lane of clip bars per face (height and
    colour = the clip's probability, hatched when the track was padded) and, when the model
    gives one, the face's identity-inconsistency curve."""
    pts = result["timeline"]
    clips = result.get("clips") or []
    curves = {
        int(t["track_id"]): t["inconsistency"] for t in result["tracks"] if t.get("inconsistency")
    }
    if not pts and not clips:
        return "<p class='muted'>No face was scored.</p>"
    times = [p["time"] for p in pts] + [c["end"] for c in clips]
    times += [q["time"] for curve in curves.values() for q in curve]
    t_end = max(times) or 1.0
    ids = sorted(
        {int(k) for p in pts for k in p["faces"]}
        | {int(c["track_id"]) for c in clips}
        | set(curves)
    )
    colour = {tid: _COLOURS[n % len(_COLOURS)] for n, tid in enumerate(ids)}
    lanes = []  # per face: its clip bars, then its identity curve
    for tid in ids:
        if any(int(c["track_id"]) == tid for c in clips):
            lanes.append(("clips", tid))
        if tid in curves:
            lanes.append(("identity", tid))
    pad_l, pad_b, pad_t, pad_r = 64 if lanes else 44, 28, 10, 10
    height = pad_t + _PLOT_H + len(lanes) * (_LANE_H + _LANE_GAP) + pad_b
    x = lambda t: pad_l + (width - pad_l - pad_r) * (t / t_end)  # noqa: E731
    y = lambda p: pad_t + _PLOT_H * (1 - p)  # noqa: E731
    th = result["threshold"]
    parts = [
        f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' aria-label='timeline'>",
        "<defs><pattern id='fs-hatch' width='5' height='5' patternUnits='userSpaceOnUse' "
        "patternTransform='rotate(45)'><line x1='0' y1='0' x2='0' y2='5' stroke='#fff' "
        "stroke-width='2'/></pattern></defs>",
    ]
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f"<line x1='{pad_l}' x2='{width - pad_r}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#eceef2'/>"
        )
        parts.append(
            f"<text x='{pad_l - 6}' y='{y(v) + 4:.1f}' font-size='11' text-anchor='end' fill='#667085'>{v:.2f}</text>"
        )
    parts.append(
        f"<line x1='{pad_l}' x2='{width - pad_r}' y1='{y(th):.1f}' y2='{y(th):.1f}' stroke='#999' stroke-dasharray='5,4'/>"
    )
    for n, tid in enumerate(ids):
        seq = [(p["time"], p["faces"][str(tid)]) for p in pts if str(tid) in p["faces"]]
        c = colour[tid]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in seq)
        parts.append(f"<polyline fill='none' stroke='{c}' stroke-width='2' points='{path}'/>")
        parts += [
            f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='2.5' fill='{c}'><title>face {tid}, {t:.2f}s: {v:.3f}</title></circle>"
            for t, v in seq
        ]
        parts.append(
            f"<text x='{width - pad_r - 70}' y='{pad_t + 14 + 14 * n}' font-size='11' fill='{c}'>face {tid}</text>"
        )
    top = pad_t + _PLOT_H + _LANE_GAP
    for kind, tid in lanes:
        parts += _lane_frame(pad_l, width - pad_r, top, tid, kind, colour[tid])
        if kind == "clips":
            mine = [c for c in clips if int(c["track_id"]) == tid]
            parts += _clip_bars(mine, x, top, th, (pad_l, width - pad_r))
        else:
            parts += _curve(curves[tid], x, top, colour[tid], tid)
        top += _LANE_H + _LANE_GAP
    for k in range(6):
        t = t_end * k / 5
        parts.append(
            f"<text x='{x(t):.1f}' y='{height - 8}' font-size='11' text-anchor='middle' fill='#667085'>{t:.1f}s</text>"
        )
    parts.append("</svg>")
    return "".join(parts) + _legend(bool(clips), bool(curves), result)


def _lane_frame(x0: float, x1: float, top: float, tid: int, kind: str, c: str) -> list[str]:
    label = "clips" if kind == "clips" else "identity"
    return [
        f"<rect x='{x0}' y='{top:.1f}' width='{x1 - x0:.1f}' height='{_LANE_H}' fill='#f6f7f9'/>",
        f"<text x='{x0 - 6}' y='{top + 16:.1f}' font-size='10' text-anchor='end' fill='{c}'>face {tid}</text>",
        f"<text x='{x0 - 6}' y='{top + 28:.1f}' font-size='10' text-anchor='end' fill='#667085'>{label}</text>",
    ]


def _clip_bars(
    clips: list[dict[str, Any]], x: Any, top: float, th: float, span: tuple[float, float]
) -> list[str]:
    """One bar per clip over its time span, rising from the lane's floor by its probability;
    the dashed line is the decision threshold on the same scale."""
    floor, h = top + _LANE_H, _LANE_H - 2
    y_th = floor - h * th
    parts = [
        f"<line x1='{span[0]:.1f}' x2='{span[1]:.1f}' y1='{y_th:.1f}' y2='{y_th:.1f}' stroke='#bbb' stroke-dasharray='5,4'/>"
    ]
    for c in clips:
        p = float(c["probability"])
        x0, x1 = x(float(c["start"])), x(float(c["end"]))
        w, bar = max(x1 - x0, 3.0), max(h * p, 1.0)
        padded = bool(c.get("padded"))
        note = f"padded, {c['frames']} real crops" if padded else f"{c['frames']} crops"
        title = (
            f"face {c['track_id']}, {float(c['start']):.2f}-{float(c['end']):.2f}s "
            f"(frames {c['first_index']}-{c['last_index']}, {note}): {p:.3f}"
        )
        geometry = f"x='{x0:.1f}' y='{floor - bar:.1f}' width='{w:.1f}' height='{bar:.1f}'"
        cls, dash = ("fs-clip fs-padded", " stroke-dasharray='3,2'") if padded else ("fs-clip", "")
        parts.append(
            f"<rect class='{cls}' {geometry} fill='{_heat(p)}' fill-opacity='0.75' stroke='{_heat(p)}'{dash}>"
            f"<title>{html.escape(title)}</title></rect>"
        )
        if padded:
            parts.append(
                f"<rect class='fs-hatch' {geometry} fill='url(#fs-hatch)' pointer-events='none'/>"
            )
    return parts


def _curve(curve: list[dict[str, Any]], x: Any, top: float, c: str, tid: int) -> list[str]:
    """A face's identity-inconsistency curve, scaled to its lane (0 or its minimum to its peak)."""
    pts = sorted((float(q["time"]), float(q["value"]), int(q["frame_index"])) for q in curve)
    lo = min(0.0, min(v for _, v, _ in pts))
    hi = max(v for _, v, _ in pts)
    hi = hi if hi > lo else lo + 1.0
    y = lambda v: top + _LANE_H - 2 - (_LANE_H - 6) * (v - lo) / (hi - lo)  # noqa: E731
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v, _ in pts)
    parts = [
        f"<polyline class='fs-inconsistency' fill='none' stroke='{c}' stroke-width='1.5' points='{line}'>"
        f"<title>face {tid}: identity inconsistency per frame (peak {hi:.3f})</title></polyline>"
    ]
    parts += [
        f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='1.8' fill='{c}'><title>face {tid}, {t:.2f}s "
        f"(frame {i}): inconsistency {v:.3f}</title></circle>"
        for t, v, i in pts
    ]
    return parts


def _legend(clips: bool, curves: bool, result: dict[str, Any]) -> str:
    """A short key under the timeline; clip and curve entries only when they are drawn."""
    t = (result.get("model") or {}).get("frames_per_clip")
    line = "<line x1='0' x2='22' y1='6' y2='6' stroke='{}' stroke-width='2'{}/>"
    box = "<rect x='1' y='3' width='20' height='9' fill='{0}' fill-opacity='.75' stroke='{0}'{1}/>"
    items = [
        (line.format("#2e86c1", ""), "probability of each face per sampled frame"),
        (line.format("#999", " stroke-dasharray='5,4'"), f"threshold ({result['threshold']:.2f})"),
    ]
    if clips:
        items[0] = (items[0][0], items[0][1] + " (mean of the clips covering it)")
        items.append(
            (
                box.format(_heat(0.85), ""),
                f"one bar per clip{f' of T = {t} frames' if t else ''} over its time span; "
                "height and colour = its probability (green low, red high)",
            )
        )
        items.append(
            (
                box.format(_heat(0.5), " stroke-dasharray='3,2'")
                + "<rect x='1' y='3' width='20' height='9' fill='url(#fs-hatch)'/>",
                "hatched: the track was shorter than the clip, padded with its last crop",
            )
        )
    if curves:
        items.append(
            (
                "<polyline fill='none' stroke='#8e44ad' stroke-width='1.5' points='0,10 7,8 12,3 22,7'/>",
                "identity inconsistency of the face per frame, scaled to its lane "
                "(higher = less consistent)",
            )
        )
    swatch = "<svg width='22' height='12' style='vertical-align:middle' aria-hidden='true'>{}</svg>"
    return (
        "<div class='legend'>"
        + "".join(f"<span>{swatch.format(s)} {html.escape(text)}</span>" for s, text in items)
        + "</div>"
    )


def _table(rows: list[tuple[str, Any]]) -> str:
    return (
        "<table>"
        + "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        + "</table>"
    )


def _tracks_table(r: dict[str, Any]) -> str:
    """One row per face track; with its number of clips (and padded ones) for clip models."""
    clips = r.get("clips") or []
    head = "<tr><th>face</th><th>probability</th><th>frames</th><th>time</th>"
    head += "<th>clips (padded)</th></tr>" if clips else "</tr>"
    rows = []
    for t in r["tracks"]:
        row = (
            f"<tr><td>face {t['track_id']}</td><td>{t['probability']:.1%}</td>"
            f"<td>{t['frames']}</td><td>{t['start']:.2f}-{t['end']:.2f}s</td>"
        )
        if clips:
            mine = [c for c in clips if c["track_id"] == t["track_id"]]
            row += f"<td>{len(mine)} ({sum(bool(c['padded']) for c in mine)})</td>"
        rows.append(row + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def render_report(result: Any, detector: Any = None, top: int = 6) -> str:
    """HTML for a ``ScanResult`` (with its scored faces for the heatmaps)."""
    r = result.to_dict()
    name = html.escape(Path(r["path"]).name)
    verdict = r["verdict"] or {"no_face": "no face", "no_audio": "no audio"}.get(
        r["status"], "failed"
    )
    cls = r["verdict"] or "none"
    prob = "-" if r["probability"] is None else f"{r['probability']:.1%}"
    body = [
        f"<h1>{name}</h1><div class='muted'>{html.escape(r['path'])}</div>",
        "<div class='card verdict' style='margin-top:14px'>",
        f"<div class='badge {cls}'>{html.escape(verdict.upper())}</div>",
        f"<div><div class='prob'>{prob}</div><div class='muted'>calibrated probability that the video is fake "
        f"(verdict at {r['threshold']:.2f}); model <b>{html.escape(str(r['model'].get('name')))}</b></div></div></div>",
    ]
    if r["status"] != "ok":
        body.append(
            f"<div class='warn'>{html.escape(r.get('reason') or r.get('error') or '')}</div>"
        )
    for w in r["warnings"]:
        body.append(f"<div class='warn'>{html.escape(w)}</div>")
    body += ["<h2>Timeline</h2><div class='card'>", _timeline_svg(r), "</div>"]
    family = r["model"].get("family") or getattr(detector, "family", "frame")
    body.append(render_sections(family, result, r, detector, top))  # the family's own sections
    if r["tracks"]:
        body.append(f"<h2>Faces (tracks)</h2><div class='card'>{_tracks_table(r)}</div>")
    v = r["video"]
    body += [
        "<h2>Video</h2><div class='card'>",
        _table(
            [
                (k, v.get(k))
                for k in (
                    "width",
                    "height",
                    "fps",
                    "duration",
                    "frame_count",
                    "codec",
                    "pix_fmt",
                    "rotation",
                    "has_audio",
                    "size_bytes",
                )
            ]
        ),
        "</div>",
    ]
    m, s = r["model"], r["settings"]
    shape = [("family", family)]
    if "frames_per_clip" in m:  # clip models (Detector.shape)
        shape += [
            ("frames per clip (T)", m.get("frames_per_clip", "-")),
            ("stride", m.get("stride", "-")),
        ]
    rest = [(k, val) for k, val in m.items() if k not in ("family", "frames_per_clip", "stride")]
    body += [
        "<h2>Model and settings</h2><div class='card'>",
        _table([*shape, *rest, *s.items(), *r["timing"].items(), ("fakescope", r["fakescope"])]),
        "</div>",
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>fakescope: {name}</title><style>{_CSS}</style></head><body><main>{''.join(body)}</main></body></html>"
    )


def write_report(result: Any, out: str | os.PathLike[str], detector: Any = None) -> Path:
    atomic_write_text(out, render_report(result, detector))
    return Path(out)
