"""dlib's HOG (or MMOD CNN) face detector with the 68-point shape predictor.

This is the preprocessing most published detectors were trained with (DeepfakeBench, FF++
baselines): crops made from these boxes and landmarks match those recipes. It is slower than
YuNet (about 0.7 s per 1080p frame with ``upsample=1``). Needs ``pip install 'fakescope[dlib]'``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ModelError
from ..types import FaceBox
from .base import register_detector, resize_for_detection


def _dlib_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.origin:
        raise MissingDependencyError("face-recognition-models", "dlib", "the dlib face detector")
    # read the files directly: the package's own helper imports pkg_resources
    return Path(spec.origin).parent / "models"


def keypoints_from_68(lm: np.ndarray) -> np.ndarray:
    """The 5 standard keypoints (eyes, nose tip, mouth corners) from 68 iBUG landmarks."""
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]]).astype(
        np.float32
    )


@register_detector("dlib")
class DlibDetector:
    """dlib frontal-face HOG detector (``model="hog"``) or MMOD CNN (``model="cnn"``) + 68 points.

    ``score`` is the logistic of dlib's detection margin, so 0.5 is dlib's own threshold.
    """

    name = "dlib"

    def __init__(
        self, upsample: int = 1, model: str = "hog", max_side: int = 0, min_size: int = 16
    ) -> None:
        try:
            import dlib
        except ImportError:
            raise MissingDependencyError("dlib-bin", "dlib", "the dlib face detector") from None
        if model not in ("hog", "cnn"):
            raise ModelError(f"dlib detector: model must be 'hog' or 'cnn', got '{model}'")
        folder = _dlib_models_dir()
        self.upsample = int(upsample)
        self.model = model
        self.max_side = int(max_side)
        self.min_size = int(min_size)
        if model == "hog":
            self._detector = dlib.get_frontal_face_detector()
        else:
            self._detector = dlib.cnn_face_detection_model_v1(
                str(folder / "mmod_human_face_detector.dat")
            )
        self._predictor = dlib.shape_predictor(
            str(folder / "shape_predictor_68_face_landmarks.dat")
        )
        self._dlib = dlib

    def config(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "upsample": self.upsample,
            "max_side": self.max_side,
            "landmarks": 68,
            "min_size": self.min_size,
        }

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        small, scale = resize_for_detection(image, self.max_side)
        small = np.ascontiguousarray(small)
        if self.model == "hog":
            rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
            found = list(zip(rects, scores))
        else:
            found = [(d.rect, d.confidence) for d in self._detector(small, self.upsample)]
        H, W = image.shape[:2]
        out: list[FaceBox] = []
        for rect, margin in found:
            shape = self._predictor(small, rect)
            lm = np.array([(p.x, p.y) for p in shape.parts()], np.float32) / scale
            x1 = max(0.0, rect.left() / scale)
            y1 = max(0.0, rect.top() / scale)
            x2 = min(float(W), (rect.right() + 1) / scale)
            y2 = min(float(H), (rect.bottom() + 1) / scale)
            if x2 - x1 < self.min_size or y2 - y1 < self.min_size:
                continue
            score = float(1.0 / (1.0 + np.exp(-float(margin))))
            out.append(FaceBox(x1, y1, x2, y2, score, keypoints_from_68(lm), lm))
        out.sort(key=lambda b: -b.area)
        return out
