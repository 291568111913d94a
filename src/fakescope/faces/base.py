"""The face detector protocol and its registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from .._registry import register_into
from ..errors import ConfigError
from ..types import FaceBox

__all__ = [
    "FaceDetector",
    "create_detector",
    "detector_config",
    "list_detectors",
    "register_detector",
]


@runtime_checkable
class FaceDetector(Protocol):
    """Finds every face in an RGB frame.

    ``config()`` returns every setting that changes the output (it is part of cache keys).
    """

    name: str

    def detect(self, image: np.ndarray) -> list[FaceBox]: ...

    def config(self) -> dict[str, Any]: ...


_REGISTRY: dict[str, Callable[..., FaceDetector]] = {}
F = TypeVar("F", bound=Callable[..., FaceDetector])


def register_detector(name: str) -> Callable[[F], F]:
    """Class decorator: make a detector creatable by ``name``. Duplicate names are an error."""

    def wrap(factory: F) -> F:
        entry: Callable[..., FaceDetector] = factory
        register_into(_REGISTRY, name, entry, "face detector")
        return factory

    return wrap


def _load_builtin() -> None:
    # importing the modules registers them; they import heavy libraries lazily
    from . import dlib_detector, yunet  # noqa: F401


def list_detectors() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create_detector(name: str = "yunet", **options: Any) -> FaceDetector:
    """Build a detector by registry name, e.g. ``create_detector("dlib", upsample=1)``."""
    _load_builtin()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"detector: unknown face detector '{name}'; choose from {', '.join(sorted(_REGISTRY))}"
        ) from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"detector: bad option for '{name}': {exc}") from None


def detector_config(detector: FaceDetector) -> dict[str, Any]:
    return {"name": detector.name, **detector.config()}


def resize_for_detection(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side`` (0 = never). Returns (image, scale)."""
    import cv2

    h, w = image.shape[:2]
    longest = max(h, w)
    if not max_side or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    return small, scale
