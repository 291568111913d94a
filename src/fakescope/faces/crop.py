"""Square face crops around detections, optionally aligned on the eyes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError
from ..types import FaceBox

__all__ = ["CropSettings", "FaceCrop", "crop_face"]


@dataclass(frozen=True)
class CropSettings:
    """``margin`` scales the square side (longer box side x margin); ``size`` is the output side."""

    margin: float = 1.3
    size: int = 256
    align: bool = False

    def __post_init__(self) -> None:
        if not 0.5 <= self.margin <= 4.0:
            raise ConfigError(f"crop.margin must be within 0.5..4, got {self.margin}")
        if not 16 <= self.size <= 2048:
            raise ConfigError(f"crop.size must be within 16..2048, got {self.size}")

    def to_dict(self) -> dict[str, object]:
        return {"margin": self.margin, "size": self.size, "align": self.align}


@dataclass(frozen=True)
class FaceCrop:
    image: np.ndarray  # size x size x 3 uint8, RGB
    matrix: np.ndarray  # 2x3 affine map from frame to crop coordinates
    keypoints: np.ndarray  # (5, 2) in crop coordinates
    landmarks: np.ndarray | None  # (N, 2) in crop coordinates


def _transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def crop_face(image: np.ndarray, box: FaceBox, settings: CropSettings = CropSettings()) -> FaceCrop:
    """Cut a square around ``box`` (zero padding where it leaves the frame) and resize it.

    With ``align=True`` the crop is rotated so that the eyes lie on a horizontal line.
    """
    cx, cy = box.center
    side = max(box.width, box.height) * settings.margin
    size = settings.size
    scale = size / side
    if settings.align:
        (lx, ly), (rx, ry) = box.keypoints[0], box.keypoints[1]
        angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[:, 2] += np.array([size / 2.0 - cx, size / 2.0 - cy])
        out = cv2.warpAffine(
            image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
    else:
        # integer square window, padded where it leaves the frame, then resized
        s = max(1, round(side))
        x0 = round(cx - s / 2.0)
        y0 = round(cy - s / 2.0)
        h, w = image.shape[:2]
        window = np.zeros((s, s, 3), np.uint8)
        sx0, sy0 = max(0, x0), max(0, y0)
        sx1, sy1 = min(w, x0 + s), min(h, y0 + s)
        if sx1 > sx0 and sy1 > sy0:
            window[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
        out = cv2.resize(window, (size, size), interpolation=interp) if s != size else window
        k = size / s
        m = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]], np.float64)
    landmarks = None if box.landmarks is None else _transform(box.landmarks, m)
    return FaceCrop(np.ascontiguousarray(out), m, _transform(box.keypoints, m), landmarks)
