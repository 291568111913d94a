"""Where the detector looks: Grad-CAM heatmaps (Captum) on face crops."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["gradcam", "overlay"]


def _last_spatial_layer(model: Any, x: Any) -> Any:
    """The last module of the backbone that outputs a (B, C, H, W) map with H, W > 1."""
    import torch

    found: list[Any] = []
    hooks = []
    for module in model.backbone.modules():
        if len(list(module.children())) == 0:
            hooks.append(
                module.register_forward_hook(
                    lambda m, _i, o: (
                        found.append(m)
                        if isinstance(o, torch.Tensor) and o.ndim == 4 and o.shape[-1] > 1
                        else None
                    )
                )
            )
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return found[-1] if found else None


def gradcam(detector: Any, crops: np.ndarray) -> np.ndarray:
    """(N, H, W) heatmaps in [0, 1] for uint8 crops (N, H, W, 3): Grad-CAM of the "fake" logit
    on the backbone's last feature map (input-gradient saliency for models without one)."""
    from captum.attr import LayerAttribution, LayerGradCam, Saliency

    model = detector.model
    x = detector.preprocess(crops)
    layer = _last_spatial_layer(model, x)
    if layer is not None:
        attr = LayerGradCam(model, layer).attribute(x, relu_attributions=True)
        attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        maps = attr.detach().float().cpu().numpy()[:, 0]
    else:
        maps = (
            Saliency(model)
            .attribute(x.requires_grad_(True), abs=True)
            .detach()
            .cpu()
            .numpy()
            .max(1)
        )
    maps = np.maximum(maps, 0)
    peak = maps.reshape(len(maps), -1).max(1).reshape(-1, 1, 1)
    maps = np.where(peak > 0, maps / np.maximum(peak, 1e-12), 0.0)
    import cv2

    h, w = crops.shape[1:3]
    return np.stack(
        [cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) for m in maps]
    )


def overlay(crop: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A heatmap blended over an RGB crop (jet colour map)."""
    import cv2

    colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)[
        :, :, ::-1
    ]
    return (
        (crop.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha)
        .clip(0, 255)
        .astype(np.uint8)
    )
