"""RFFR scans (seed 004): each suspicious face's residual map beside its Grad-CAM heatmap.

The residual is what the detector's second branch reads: ``scale * (inpaint(masked) - crop)``
with the block the model masks at inference (``eval_block``) outlined. Shown as its per-pixel
magnitude (mean absolute value over the colour channels), scaled per crop to its 99th
percentile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_rffr", "residual_maps", "residual_section"]


def is_rffr(detector: Any) -> bool:
    """Whether a detector's network has an RFFR backbone (a residual to show); decided from
    its card, so other detectors never build a PyTorch network for it."""
    config = getattr(detector, "config", None)
    return getattr(config, "backbone", None) == "rffr" and getattr(config, "kind", "") == "frame"


def residual_maps(detector: Any, crops: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``(maps, block)``: (N, H, W) residual magnitudes in [0, 1] of uint8 crops (N, H, W, 3)
    at the crops' size, and the masked block ``(x0, y0, x1, y1)`` in crop pixels."""
    import cv2
    import torch

    backbone = detector.model.backbone
    backbone.eval()
    x = detector.preprocess(crops)
    with torch.no_grad():
        res = backbone.residual(x).abs().mean(1).float().cpu().numpy()
    scale = np.percentile(res.reshape(len(res), -1), 99, axis=1).reshape(-1, 1, 1)
    res = np.clip(res / np.maximum(scale, 1e-12), 0.0, 1.0)
    h, w = crops.shape[1:3]
    maps = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in res])
    k, size = backbone.masker.k, x.shape[-1]
    r, c = divmod(backbone.eval_block, k)
    step = size // k
    fx, fy = w / size, h / x.shape[-2]
    box = (round(c * step * fx), round(r * step * fy), round((c + 1) * step * fx),
           round((r + 1) * step * fy))  # fmt: skip
    return maps, box


def residual_section(result: Any, detector: Any, top: int = 6) -> list[str]:
    """HTML: the ``top`` most suspicious faces (highest logit), each as crop, Grad-CAM and
    residual map side by side; nothing for a detector without an RFFR backbone."""
    faces = getattr(result, "faces", None)
    if faces is None or not len(faces) or not is_rffr(detector):
        return []
    import cv2

    from .html import _png, _read
    from .saliency import gradcam, overlay

    order = np.argsort(-np.asarray(faces.logit, np.float64), kind="stable")[:top]
    crops = np.stack([cv2.cvtColor(_read(faces.files[i]), cv2.COLOR_BGR2RGB) for i in order])
    heat = gradcam(detector, crops)
    maps, (x0, y0, x1, y1) = residual_maps(detector, crops)
    rows = []
    for k, i in enumerate(order):
        colour = cv2.applyColorMap((maps[k] * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)
        residual = np.ascontiguousarray(colour[:, :, ::-1])
        cv2.rectangle(residual, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), 1)
        rows.append(
            "<div class='face'>"
            f"<img alt='face crop' src='{_png(crops[k])}'>"
            f"<img alt='Grad-CAM heatmap' src='{_png(overlay(crops[k], heat[k]))}'>"
            f"<img alt='residual map' src='{_png(residual)}'>"
            f"face {int(faces.track[i])} at {float(faces.timestamp[i]):.2f}s</div>"
        )
    note = (
        "RFFR: each face crop, its Grad-CAM heatmap and its residual map (4 &times; inpainting "
        "minus crop, magnitude; the white box is the block the model masks and inpaints)."
    )
    head = "<h2>Residual maps (RFFR)</h2><div class='card'><div class='faces'>"
    return [head, *rows, f"</div><p class='muted'>{note}</p></div>"]
