"""Faces: detector backends behind one protocol, tracking across frames, crops."""

from .base import FaceDetector, create_detector, detector_config, list_detectors, register_detector
from .crop import CropSettings, FaceCrop, crop_face
from .tracking import TrackingSettings, box_iou, build_tracks

__all__ = [
    "CropSettings",
    "FaceCrop",
    "FaceDetector",
    "TrackingSettings",
    "box_iou",
    "build_tracks",
    "create_detector",
    "crop_face",
    "detector_config",
    "list_detectors",
    "register_detector",
]
