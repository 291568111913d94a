"""The report's motion section for flow models (seed 003): the motion anomaly of every frame
pair over time, and flow heatmaps of the pairs where it is highest (images inline)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

__all__ = ["flow_colour", "motion_section"]

_COLOURS = ["#c0392b", "#2e86c1", "#27865f", "#8e44ad", "#d68910", "#566573"]


def flow_colour(flow_img: np.ndarray) -> np.ndarray:
    """A flow image (``forensics.flow.flow_image``) as the usual flow colouring: hue = direction,
    brightness = relative magnitude (RGB uint8)."""
    import cv2

    from ..forensics.flow import decode_flow_image

    mag, angle = decode_flow_image(flow_img)
    hsv = np.zeros((*mag.shape, 3), np.uint8)
    hsv[..., 0] = (np.degrees(angle) % 360 / 2).astype(np.uint8)  # OpenCV hue: 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag * 255, 0, 255).astype(np.uint8)
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def _curve_svg(tracks: list[dict[str, Any]], width: int = 900, height: int = 160) -> str:
    pts = [
        (p["time"], p["anomaly"]) for t in tracks for p in t["pairs"] if p["anomaly"] is not None
    ]
    if not pts:
        return "<p class='muted'>No motion anomaly could be computed (face boxes too small).</p>"
    t0 = min(t for t, _ in pts)
    t1 = max(max(t for t, _ in pts), t0 + 1e-6)
    top = max(max(v for _, v in pts), 1e-6)
    pad = 30

    def x(t: float) -> float:
        return pad + (t - t0) / (t1 - t0) * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad + 10 - v / top * (height - pad - 10)

    out = [f"<svg viewBox='0 0 {width} {height + 10}' width='100%' role='img' "
           "aria-label='motion anomaly per frame pair'>"]  # fmt: skip
    out.append(
        f"<text x='{pad}' y='12' font-size='11' fill='#667085'>max {top:.3g} px/frame</text>"
        f"<text x='{pad}' y='{height + 8}' font-size='11' fill='#667085'>{t0:.2f}s</text>"
        f"<text x='{width - pad}' y='{height + 8}' font-size='11' fill='#667085' "
        f"text-anchor='end'>{t1:.2f}s</text>"
    )
    for k, t in enumerate(tracks):
        c = _COLOURS[k % len(_COLOURS)]
        for p in t["pairs"]:
            if p["anomaly"] is None:
                continue
            out.append(
                f"<circle cx='{x(p['time']):.1f}' cy='{y(p['anomaly']):.1f}' r='2.5' fill='{c}'>"
                f"<title>face {t['track_id']} at {p['time']:.3f}s (frame {p['frame_index']}): "
                f"anomaly {p['anomaly']:.3g}</title></circle>"
            )
    out.append("</svg>")
    return "".join(out)


def motion_section(result: Any, top: int = 6) -> list[str]:
    """HTML of the motion section of a flow model's ``ScanResult`` (empty for other models)."""
    from .html import _png, _read
    from .saliency import overlay

    scores = getattr(result, "faces", None)
    motion = getattr(scores, "motion", None)
    if not motion:
        return []
    import cv2

    pairs = [(t["track_id"], p) for t in motion["tracks"] for p in t["pairs"]]
    ranked = sorted(
        (tp for tp in pairs if tp[1]["anomaly"] is not None),
        key=lambda tp: -float(tp[1]["anomaly"]),
    )[:top]
    tiles = []
    for tid, p in ranked:
        flow_img = cv2.cvtColor(_read(p["file"]), cv2.COLOR_BGR2RGB)
        window = cv2.cvtColor(_read(p["window"]), cv2.COLOR_BGR2RGB)
        if window.shape[:2] != flow_img.shape[:2]:
            window = cv2.resize(window, flow_img.shape[1::-1], interpolation=cv2.INTER_AREA)
        heat = overlay(window, flow_img[..., 0].astype(np.float32) / 255.0)
        tiles.append(
            f"<div class='face'><img alt='flow magnitude over the frame' src='{_png(heat)}'>"
            f"<img alt='flow direction' src='{_png(flow_colour(flow_img))}'><br>"
            f"face {tid} at {p['time']:.2f}s (frame {p['frame_index']}): anomaly "
            f"<b>{p['anomaly']:.3g}</b>, pair logit {p['logit']:+.2f}</div>"
        )
    note = (
        f"Motion anomaly per frame pair: {html.escape(motion['anomaly'])}. Above: the pairs "
        "where it is highest; each is the window around the face (the first frame of the pair) "
        "under its flow magnitude (min-max per pair, jet colours), beside the flow coloured by "
        "direction (hue) and relative magnitude (brightness). Farneback parameters: "
        f"{html.escape(str(motion.get('settings', {}).get('farneback')))}."
    )
    return [
        "<h2>Motion (optical flow)</h2><div class='card'>",
        _curve_svg(motion["tracks"]),
        "<div class='faces'>",
        *tiles,
        f"</div><p class='muted'>{note}</p></div>",
    ]
