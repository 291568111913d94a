"""Video input: probing, frame-accurate sampling and decoding."""

from .sampling import Sampling, parse_sampling
from .video import (
    IMAGE_EXTENSIONS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    FrameSample,
    VideoReader,
    probe,
    read_frames,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameSample",
    "Sampling",
    "VideoReader",
    "parse_sampling",
    "probe",
    "read_frames",
]
