"""Inference helpers: turning model logits into calibrated probabilities of "fake"."""

from .calibration import CalibrationError, TemperatureScaler, logit, sigmoid
from .pipeline import AGGREGATIONS, VideoScores, aggregate, score_entry

__all__ = [
    "AGGREGATIONS",
    "CalibrationError",
    "TemperatureScaler",
    "VideoScores",
    "aggregate",
    "logit",
    "score_entry",
    "sigmoid",
]
