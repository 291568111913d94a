"""The report's forensic-signals section (signals models): each feature of the video on its
training distribution, with its SHAP contribution to the video's logit."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

__all__ = ["signals_section"]

_REAL, _FAKE = "#27865f", "#c0392b"


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and np.isfinite(float(v))]


def _signal_strip(name: str, value: float | None, dist: dict[str, Any], width: int = 360) -> str:
    """One feature on its training distribution: the real and the fake videos' 5-95 % range
    (thin), 25-75 % (thick) and median, and this video's value (black line)."""
    real = (dist.get("real") or {}).get("quantiles")
    fake = (dist.get("fake") or {}).get("quantiles")
    span = _finite([*(real or []), *(fake or []), value])
    if not span:
        return "<span class='muted'>no training distribution</span>"
    lo, hi = min(span), max(span)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    x = lambda v: 6 + (width - 12) * (float(v) - lo) / (hi - lo)  # noqa: E731
    parts = [f"<svg class='fs-signal-strip' viewBox='0 0 {width} 40' width='{width}' height='40' "
             f"role='img' aria-label='{html.escape(name)} against its training distribution'>"]  # fmt: skip
    for q, colour, y, label in ((real, _REAL, 12, "real"), (fake, _FAKE, 26, "fake")):
        if not q:
            continue
        q05, q25, q50, q75, q95 = q
        tip = f"{label} training videos: 5-95 % {q05:.4g}-{q95:.4g}, median {q50:.4g}"
        parts += [
            f"<g><title>{html.escape(tip)}</title>",
            f"<line x1='{x(q05):.1f}' x2='{x(q95):.1f}' y1='{y}' y2='{y}' stroke='{colour}' stroke-width='2'/>",
            f"<rect x='{x(q25):.1f}' y='{y - 5}' width='{max(x(q75) - x(q25), 1.5):.1f}' height='10' fill='{colour}' fill-opacity='.45'/>",
            f"<line x1='{x(q50):.1f}' x2='{x(q50):.1f}' y1='{y - 6}' y2='{y + 6}' stroke='{colour}' stroke-width='2'/></g>",
        ]
    if value is not None:
        parts.append(
            f"<line x1='{x(value):.1f}' x2='{x(value):.1f}' y1='2' y2='38' stroke='#1d2330' stroke-width='2.5'>"
            f"<title>this video: {value:.4g}</title></line>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _shap_bar(v: float, scale: float, width: int = 220) -> str:
    """A SHAP contribution as a bar from the centre: right and red raise the fake score."""
    mid = width / 2
    w = (width / 2 - 2) * min(abs(v) / scale, 1.0) if scale > 0 else 0.0
    x0 = mid if v >= 0 else mid - w
    colour = _FAKE if v >= 0 else _REAL
    return (
        f"<svg class='fs-shap-bar' viewBox='0 0 {width} 16' width='{width}' height='16'>"
        f"<line x1='{mid}' x2='{mid}' y1='0' y2='16' stroke='#999'/>"
        f"<rect x='{x0:.1f}' y='3' width='{max(w, 1.0):.1f}' height='10' fill='{colour}'>"
        f"<title>SHAP {v:+.4f}</title></rect></svg>"
    )


def signals_section(sig: dict[str, Any]) -> list[str]:
    """Signals models: each feature of the video on its training distribution (real and fake
    training videos), with its SHAP contribution to the video's logit, largest first."""
    values, shap = sig.get("values") or {}, sig.get("shap") or {}
    dist = ((sig.get("training") or {}).get("features")) or {}
    names = sorted(values, key=lambda k: -abs(float(shap.get(k, 0.0))))
    scale = max([abs(float(v)) for v in shap.values()] + [1e-9])
    rows = []
    for k in names:
        v = values[k]
        shown = "not computed" if v is None else f"{v:.4g}"
        rows.append(
            f"<tr><th>{html.escape(k)}</th><td>{_signal_strip(k, v, dist.get(k) or {})}</td>"
            f"<td>{html.escape(shown)}</td><td>{_shap_bar(float(shap.get(k, 0.0)), scale)}</td>"
            f"<td>{float(shap.get(k, 0.0)):+.3f}</td></tr>"
        )
    missing = sig.get("missing") or []
    note = (
        f"<div class='warn'>Not computed for this video: {html.escape(', '.join(missing))} "
        "(the classifier treats them as missing values).</div>"
        if missing
        else ""
    )
    total = float(sig.get("base_value", 0.0)) + sum(float(v) for v in shap.values())
    return [
        "<h2>Forensic signals</h2><div class='card'>",
        note,
        "<table><tr><th>feature</th><th>this video (black) against the training videos "
        f"(<span style='color:{_REAL}'>real</span>, <span style='color:{_FAKE}'>fake</span>: "
        "5-95 %, 25-75 % and median)</th><th>value</th><th>SHAP contribution</th><th></th></tr>",
        *rows,
        "</table>",
        f"<p class='muted'>SHAP contributions (TreeExplainer, exact for the trees) add up from "
        f"the training base value {float(sig.get('base_value', 0.0)):+.3f} to the video's logit "
        f"{total:+.3f} before calibration; red bars (positive) push towards fake, green towards "
        "real. Rows are sorted by the size of the contribution.</p></div>",
    ]
