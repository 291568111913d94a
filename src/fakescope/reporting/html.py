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


def _timeline_svg(result: dict[str, Any], width: int = 900, height: int = 220) -> str:
    """An inline SVG: probability of each face over time, with the decision threshold."""
    pts = result["timeline"]
    if not pts:
        return "<p class='muted'>No face was scored.</p>"
    pad_l, pad_b, pad_t, pad_r = 44, 28, 10, 10
    t_end = max(p["time"] for p in pts) or 1.0
    x = lambda t: pad_l + (width - pad_l - pad_r) * (t / t_end)  # noqa: E731
    y = lambda p: pad_t + (height - pad_t - pad_b) * (1 - p)  # noqa: E731
    colours = ["#c0392b", "#2e86c1", "#27865f", "#8e44ad", "#d68910", "#566573"]
    parts = [f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' aria-label='timeline'>"]
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f"<line x1='{pad_l}' x2='{width - pad_r}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#eceef2'/>"
        )
        parts.append(
            f"<text x='{pad_l - 6}' y='{y(v) + 4:.1f}' font-size='11' text-anchor='end' fill='#667085'>{v:.2f}</text>"
        )
    th = result["threshold"]
    parts.append(
        f"<line x1='{pad_l}' x2='{width - pad_r}' y1='{y(th):.1f}' y2='{y(th):.1f}' stroke='#999' stroke-dasharray='5,4'/>"
    )
    tracks = sorted({k for p in pts for k in p["faces"]}, key=int)
    for n, tid in enumerate(tracks):
        seq = [(p["time"], p["faces"][tid]) for p in pts if tid in p["faces"]]
        c = colours[n % len(colours)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in seq)
        parts.append(f"<polyline fill='none' stroke='{c}' stroke-width='2' points='{path}'/>")
        parts += [
            f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='2.5' fill='{c}'><title>face {tid}, {t:.2f}s: {v:.3f}</title></circle>"
            for t, v in seq
        ]
        parts.append(
            f"<text x='{width - pad_r - 70}' y='{pad_t + 14 + 14 * n}' font-size='11' fill='{c}'>face {tid}</text>"
        )
    for k in range(6):
        t = t_end * k / 5
        parts.append(
            f"<text x='{x(t):.1f}' y='{height - 8}' font-size='11' text-anchor='middle' fill='#667085'>{t:.1f}s</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[tuple[str, Any]]) -> str:
    return (
        "<table>"
        + "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        + "</table>"
    )


def render_report(result: Any, detector: Any = None, top: int = 6) -> str:
    """HTML for a ``ScanResult`` (with its scored faces for the heatmaps)."""
    r = result.to_dict()
    name = html.escape(Path(r["path"]).name)
    verdict = r["verdict"] or ("no face" if r["status"] == "no_face" else "failed")
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
    faces = result.faces
    if faces is not None and len(faces) and detector is not None:
        import cv2

        from ..inference.pipeline import video_calibrator
        from .saliency import gradcam, overlay

        calibration = video_calibrator(getattr(detector, "card", None))
        if calibration is not None:  # the same map as the verdict's
            probs = calibration.predict_proba(faces.logit)
        else:
            probs = faces.probabilities(r["model"].get("temperature", 1.0))
        order = np.argsort(-probs)[:top]
        crops = np.stack([cv2.cvtColor(_read(faces.files[i]), cv2.COLOR_BGR2RGB) for i in order])
        heat = gradcam(detector, crops)
        tiles = []
        for k, i in enumerate(order):
            tiles.append(
                f"<div class='face'><img alt='face crop' src='{_png(crops[k])}'><img alt='heatmap' src='{_png(overlay(crops[k], heat[k]))}'>"
                f"face {int(faces.track[i])} at {faces.timestamp[i]:.2f}s: <b>{probs[i]:.1%}</b></div>"
            )
        body += ["<h2>Most suspicious faces</h2><div class='card'><div class='faces'>", *tiles,
                 "</div><p class='muted'>Each face crop above its Grad-CAM heatmap: the regions that raised the "
                 "&quot;fake&quot; score most.</p></div>"]  # fmt: skip
    if r["tracks"]:
        rows = "".join(
            f"<tr><td>face {t['track_id']}</td><td>{t['probability']:.1%}</td><td>{t['frames']}</td><td>{t['start']:.2f}-{t['end']:.2f}s</td></tr>"
            for t in r["tracks"]
        )
        body.append(
            f"<h2>Faces (tracks)</h2><div class='card'><table><tr><th>face</th><th>probability</th><th>frames</th><th>time</th></tr>{rows}</table></div>"
        )
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
    body += [
        "<h2>Model and settings</h2><div class='card'>",
        _table([*m.items(), *s.items(), *r["timing"].items(), ("fakescope", r["fakescope"])]),
        "</div>",
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>fakescope: {name}</title><style>{_CSS}</style></head><body><main>{''.join(body)}</main></body></html>"
    )


def write_report(result: Any, out: str | os.PathLike[str], detector: Any = None) -> Path:
    atomic_write_text(out, render_report(result, detector))
    return Path(out)
