"""Inference helpers: turning model logits into calibrated probabilities of "fake"."""

from .calibration import CalibrationError, TemperatureScaler, logit, sigmoid

__all__ = ["CalibrationError", "TemperatureScaler", "logit", "sigmoid"]
