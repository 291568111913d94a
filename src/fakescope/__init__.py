"""fakescope: detect deepfake videos.

The public API is small and imports nothing heavy until it is used::

    import fakescope
    detector = fakescope.load_detector("default")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_detector", "scan"]


def load_detector(name_or_path: str = "default", device: str = "cpu", **options: Any) -> Any:
    """A detector with its preprocessing: ``"default"`` (shipped) or a checkpoint folder."""
    from .models import load_detector as _load

    return _load(name_or_path, device, **options)


def scan(path: str, model: str = "default", **options: Any) -> Any:
    """Scan a video: ``fakescope.scan("video.mp4").probability`` (a ``ScanResult``)."""
    from .inference.scan import scan as _scan

    return _scan(path, model, **options)
