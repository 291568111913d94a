"""Temperature scaling (Guo et al., 2017) for binary detectors.

A detector emits one logit per sample, the log-odds of "fake". Temperature scaling divides
the logits by one scalar ``T > 0`` fitted by minimising the negative log-likelihood on held-out
data: ``p = sigmoid(logit / T)``. ``T > 1`` softens over-confident models. Dividing by a
positive constant never changes the ranking, so AUC, AP and EER are unchanged.

This is frame-level calibration. Video probabilities calibrated on whole videos (temperature,
Platt, beta or isotonic, chosen by cross-validation) and the decision threshold live in
:mod:`fakescope.inference.video_calibration`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .._numeric import sigmoid
from ..errors import FakescopeError

__all__ = ["CalibrationError", "TemperatureScaler", "logit", "sigmoid"]

FloatArray = npt.NDArray[np.float64]

EPS = 1e-7
"""Default clipping of probabilities before :func:`logit` (logits stay within about ±16)."""


class CalibrationError(FakescopeError, ValueError):
    """Calibration input or a saved calibration is invalid."""


def logit(p: npt.ArrayLike, eps: float = EPS) -> FloatArray:
    """Log-odds of ``p``, after clipping ``p`` to ``[eps, 1 - eps]`` so that the result is finite."""
    if not 0.0 < eps < 0.5:
        raise CalibrationError(f"logit: eps must be in (0, 0.5), got {eps}")
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def _nll(z: FloatArray, y: FloatArray, temperature: float) -> float:
    """Mean binary cross-entropy of ``sigmoid(z / temperature)`` against ``y``."""
    a = z / temperature
    return float(np.mean(np.logaddexp(0.0, a) - y * a))


class TemperatureScaler:
    """Fit and apply one temperature to binary "fake" logits (scikit-learn style).

    ``temperature_`` is 1.0 (identity) until :meth:`fit` sets it. The fit minimises the
    negative log-likelihood over ``log T`` with bounded Brent search in
    ``[MIN_TEMPERATURE, MAX_TEMPERATURE]``; it is deterministic. Logits that carry no signal
    push ``T`` to the upper bound (probabilities near 0.5).
    """

    MIN_TEMPERATURE = 1e-2
    MAX_TEMPERATURE = 1e2

    def __init__(self) -> None:
        self.temperature_: float = 1.0
        self.n_samples_: int = 0

    def __repr__(self) -> str:
        return f"TemperatureScaler(temperature_={self.temperature_:.6g})"

    @staticmethod
    def _logits(logits: npt.ArrayLike, func: str) -> FloatArray:
        z = np.asarray(logits, dtype=np.float64)
        if np.isnan(z).any():
            raise CalibrationError(f"{func}: logits contain {int(np.isnan(z).sum())} NaN value(s)")
        return z

    def fit(self, logits: npt.ArrayLike, labels: npt.ArrayLike) -> TemperatureScaler:
        """Fit ``temperature_`` on held-out ``logits`` (one per sample) and 0/1 ``labels``."""
        func = "TemperatureScaler.fit"
        z = self._logits(logits, func)
        if z.ndim == 2 and z.shape[1] == 1:
            z = z[:, 0]
        y = np.asarray(labels)
        if z.ndim != 1 or y.ndim != 1:
            raise CalibrationError(
                f"{func}: logits and labels must be 1-D (one logit per sample), "
                f"got shapes {z.shape} and {y.shape}"
            )
        if z.size != y.size:
            raise CalibrationError(
                f"{func}: logits and labels differ in length ({z.size} vs {y.size})"
            )
        if z.size == 0:
            raise CalibrationError(f"{func}: no samples; fitting needs held-out logits")
        if not np.isfinite(z).all():
            raise CalibrationError(f"{func}: logits must be finite to fit a temperature")
        if not np.all((y == 0) | (y == 1)):
            raise CalibrationError(f"{func}: labels must be 0 (real) or 1 (fake)")
        yf = y.astype(np.float64)
        if yf.min() == yf.max():
            only = "fake (1)" if yf[0] == 1 else "real (0)"
            raise CalibrationError(
                f"{func}: all {y.size} labels are {only}; it needs both real (0) and fake (1)"
            )
        from scipy.optimize import minimize_scalar

        result = minimize_scalar(
            lambda u: _nll(z, yf, math.exp(u)),
            bounds=(math.log(self.MIN_TEMPERATURE), math.log(self.MAX_TEMPERATURE)),
            method="bounded",
            options={"xatol": 1e-8},
        )
        self.temperature_ = float(math.exp(float(result.x)))
        self.n_samples_ = int(z.size)
        return self

    def predict_proba(self, logits: npt.ArrayLike) -> FloatArray:
        """Calibrated probability of "fake", ``sigmoid(logits / temperature_)``, same shape."""
        z = self._logits(logits, "TemperatureScaler.predict_proba")
        return sigmoid(z / self.temperature_)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "method": "temperature",
            "temperature": self.temperature_,
            "n_samples": self.n_samples_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemperatureScaler:
        """Rebuild a scaler saved with :meth:`to_dict`."""
        if data.get("method", "temperature") != "temperature":
            raise CalibrationError(
                f"calibration method {data.get('method')!r} is not 'temperature'"
            )
        try:
            temperature = float(data["temperature"])
            n_samples = int(data.get("n_samples", 0))
        except (KeyError, TypeError, ValueError) as err:
            raise CalibrationError(
                f"calibration: invalid or missing 'temperature' ({err})"
            ) from err
        if not (math.isfinite(temperature) and temperature > 0.0):
            raise CalibrationError(
                f"calibration: temperature must be a finite number > 0, got {temperature}"
            )
        scaler = cls()
        scaler.temperature_ = temperature
        scaler.n_samples_ = n_samples
        return scaler
