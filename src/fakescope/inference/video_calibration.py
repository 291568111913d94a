"""Video-level calibration chosen by cross-validation, and decision thresholds.

A detector's frame logits are aggregated to one logit per video; this module maps those video
logits to calibrated probabilities of "fake". Frame-level temperature scaling
(:class:`~fakescope.inference.calibration.TemperatureScaler`) does not make *video*
probabilities calibrated (frames of one video are not independent), so the map is fitted on
video logits of a validation split, and the form of the map is chosen on the same videos by
stratified K-fold cross-validated negative log-likelihood (NLL).

Candidate methods (all non-decreasing in the logit, so the ranking, and AUC, never flips):

* ``temperature``: ``p = sigmoid(z / T)``.
* ``platt``: Platt scaling, ``p = sigmoid(a z + c)`` with ``a >= 0`` (temperature plus a bias).
* ``beta``: beta calibration (Kull et al., 2017), ``p = sigmoid(a ln s - b ln(1 - s) + c)``
  with ``s = sigmoid(z)`` and ``a, b >= 0``; ``a = b`` is Platt scaling.
* ``isotonic``: isotonic regression of the label on the logit, linear between its
  thresholds, constant beyond them, probabilities clipped to ``[1e-3, 1 - 1e-3]``.

The parametric maps are logistic regressions fitted with Platt's smoothed targets
(``(N+ + 1) / (N+ + 2)`` for fakes, ``1 / (N- + 2)`` for reals), which keeps them finite on
separable validation sets. With fewer than ``min_per_class`` (4) videos of either class there
is no honest cross-validation, and the calibrator falls back to ``temperature``.

API::

    cal = VideoCalibrator(methods=METHODS, n_folds=5, seed=0).fit(video_logits, labels)
    cal.method_, cal.params_, cal.cv_nll_     # chosen method, its parameters, CV NLL per method
    probs = cal.predict_proba(video_logits)   # numpy only: no scikit-learn at inference
    state = cal.to_dict()                     # JSON-ready; VideoCalibrator.from_dict(state)
    threshold = choose_threshold(probs_val, labels_val, rule="youden")

Only :meth:`VideoCalibrator.fit` imports scikit-learn (isotonic regression, fold splits) and
SciPy (the logistic fits); prediction and (de)serialisation use numpy alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .calibration import CalibrationError, sigmoid

__all__ = [
    "METHODS",
    "THRESHOLD_RULES",
    "VideoCalibrator",
    "choose_threshold",
]

FloatArray = npt.NDArray[np.float64]

METHODS: tuple[str, ...] = ("temperature", "platt", "beta", "isotonic")
"""Candidate methods, simplest first: an exact tie in CV NLL goes to the earlier one."""

THRESHOLD_RULES: tuple[str, ...] = ("youden", "balanced_accuracy")

ISOTONIC_CLIP = 1e-3
"""Isotonic probabilities are clipped to ``[ISOTONIC_CLIP, 1 - ISOTONIC_CLIP]``."""

MIN_TEMPERATURE = 1e-2
MAX_TEMPERATURE = 1e2
_NLL_EPS = 1e-12  # probabilities are clipped to [eps, 1 - eps] when scoring NLL
_Z_LIMIT = 1e3  # logits are clipped to +-_Z_LIMIT in the beta features (inf * 0 is NaN)


# --------------------------------------------------------------------------------------------
# prediction (numpy only)


def _beta_features(z: FloatArray) -> FloatArray:
    """``[ln s, -ln(1 - s)]`` for ``s = sigmoid(z)``, computed stably from the logit."""
    z = np.clip(z, -_Z_LIMIT, _Z_LIMIT)
    return np.stack([-np.logaddexp(0.0, -z), np.logaddexp(0.0, z)], axis=-1)


def _predict(method: str, params: Mapping[str, Any], z: FloatArray) -> FloatArray:
    if method == "temperature":
        return sigmoid(z / float(params["temperature"]))
    if method == "platt":
        return sigmoid(float(params["slope"]) * z + float(params["intercept"]))
    if method == "beta":
        f = _beta_features(z)
        a, b, c = float(params["a"]), float(params["b"]), float(params["c"])
        return sigmoid(a * f[..., 0] + b * f[..., 1] + c)
    if method == "isotonic":
        x = np.asarray(params["x"], dtype=np.float64)
        y = np.asarray(params["y"], dtype=np.float64)
        p = np.interp(z, x, y)  # constant beyond the ends, like out_of_bounds="clip"
        return np.asarray(np.clip(p, ISOTONIC_CLIP, 1.0 - ISOTONIC_CLIP), dtype=np.float64)
    raise CalibrationError(f"unknown calibration method {method!r}; expected one of {METHODS}")


def _nll(p: FloatArray, y: FloatArray) -> float:
    """Mean binary cross-entropy of probabilities ``p`` against 0/1 labels ``y``."""
    q = np.clip(p, _NLL_EPS, 1.0 - _NLL_EPS)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log1p(-q)))


# --------------------------------------------------------------------------------------------
# fitting (SciPy / scikit-learn, imported lazily)


def _platt_targets(y: FloatArray) -> FloatArray:
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    return np.where(y == 1.0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))


def _logistic(
    x: FloatArray, t: FloatArray, bounds: list[tuple[float | None, float | None]], start: FloatArray
) -> FloatArray:
    """Minimise the mean cross-entropy of ``sigmoid(x @ w[:-1] + w[-1])`` against soft targets
    ``t`` within ``bounds`` (one per column of ``x``, then the intercept)."""
    from scipy.optimize import minimize

    def loss(w: FloatArray) -> tuple[float, FloatArray]:
        s = x @ w[:-1] + w[-1]
        r = sigmoid(s) - t
        value = float(np.mean(np.logaddexp(0.0, s) - t * s))
        grad = np.append(x.T @ r, r.sum()) / t.size
        return value, grad

    result = minimize(
        loss, start, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10},
    )  # fmt: skip
    return np.asarray(result.x, dtype=np.float64)


def _fit_temperature(z: FloatArray, y: FloatArray) -> dict[str, Any]:
    from scipy.optimize import minimize_scalar

    t = _platt_targets(y)

    def loss(u: float) -> float:
        s = z * math.exp(-u)
        return float(np.mean(np.logaddexp(0.0, s) - t * s))

    result = minimize_scalar(
        loss,
        bounds=(math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)),
        method="bounded",
        options={"xatol": 1e-8},
    )
    return {"temperature": float(math.exp(float(result.x)))}


def _fit_platt(z: FloatArray, y: FloatArray) -> dict[str, Any]:
    w = _logistic(z[:, None], _platt_targets(y), [(0.0, None), (None, None)], np.array([1.0, 0.0]))
    return {"slope": float(w[0]), "intercept": float(w[1])}


def _fit_beta(z: FloatArray, y: FloatArray) -> dict[str, Any]:
    bounds: list[tuple[float | None, float | None]] = [(0.0, None), (0.0, None), (None, None)]
    w = _logistic(_beta_features(z), _platt_targets(y), bounds, np.array([1.0, 1.0, 0.0]))
    return {"a": float(w[0]), "b": float(w[1]), "c": float(w[2])}


def _fit_isotonic(z: FloatArray, y: FloatArray) -> dict[str, Any]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(z, y)
    return {
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
    }


_FITTERS = {
    "temperature": _fit_temperature,
    "platt": _fit_platt,
    "beta": _fit_beta,
    "isotonic": _fit_isotonic,
}


def _check_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate saved parameters of ``method``; return them as plain floats / lists."""
    keys = {
        "temperature": ("temperature",),
        "platt": ("slope", "intercept"),
        "beta": ("a", "b", "c"),
    }
    try:
        if method == "isotonic":
            x = [float(v) for v in params["x"]]
            y = [float(v) for v in params["y"]]
            if not x or len(x) != len(y):
                raise ValueError(
                    f"x and y must be non-empty and of one length ({len(x)}, {len(y)})"
                )
            if not all(math.isfinite(v) for v in x + y):
                raise ValueError("x and y must be finite")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise ValueError("x and y must be non-decreasing")
            return {"x": x, "y": y}
        out = {k: float(params[k]) for k in keys[method]}
    except (KeyError, TypeError, ValueError) as err:
        raise CalibrationError(
            f"calibration {method!r}: invalid or missing parameters ({err})"
        ) from err
    if not all(math.isfinite(v) for v in out.values()):
        raise CalibrationError(f"calibration {method!r}: parameters must be finite, got {out}")
    if method == "temperature" and out["temperature"] <= 0:
        raise CalibrationError(f"calibration: temperature must be > 0, got {out['temperature']}")
    if method == "platt" and out["slope"] < 0:
        raise CalibrationError(f"calibration 'platt': slope must be >= 0, got {out['slope']}")
    if method == "beta" and min(out["a"], out["b"]) < 0:
        raise CalibrationError(f"calibration 'beta': a and b must be >= 0, got {out}")
    return out


def _fit_inputs(
    logits: npt.ArrayLike, labels: npt.ArrayLike, func: str
) -> tuple[FloatArray, FloatArray]:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    y = np.asarray(labels)
    if z.ndim != 1 or y.ndim != 1:
        raise CalibrationError(
            f"{func}: logits and labels must be 1-D (one per video), got {z.shape} and {y.shape}"
        )
    if z.size != y.size:
        raise CalibrationError(f"{func}: logits and labels differ in length ({z.size} vs {y.size})")
    if z.size == 0:
        raise CalibrationError(f"{func}: no videos; fitting needs validation logits")
    if not np.isfinite(z).all():
        raise CalibrationError(f"{func}: video logits must be finite (NaN or inf found)")
    if not np.all((y == 0) | (y == 1)):
        raise CalibrationError(f"{func}: labels must be 0 (real) or 1 (fake)")
    yf = y.astype(np.float64)
    if yf.min() == yf.max():
        only = "fake (1)" if yf[0] == 1 else "real (0)"
        raise CalibrationError(f"{func}: all {y.size} labels are {only}; it needs both classes")
    return z, yf


# --------------------------------------------------------------------------------------------
# the calibrator


class VideoCalibrator:
    """Map video logits to calibrated "fake" probabilities; pick the map by K-fold CV NLL.

    ``methods`` are the candidates (a subset of :data:`METHODS`); ``n_folds`` caps K, which is
    ``min(n_folds, videos in the smaller class)``; ``seed`` fixes the fold assignment. With
    fewer than ``min_per_class`` videos in a class, ``temperature`` is fitted without CV.
    After :meth:`fit`: ``method_``, ``params_``, ``cv_nll_`` (method -> pooled held-out NLL;
    empty when nothing was compared), ``n_folds_`` (0 without CV) and ``n_samples_``.
    Before it, the calibrator is the identity (temperature 1).
    """

    def __init__(
        self,
        methods: Sequence[str] = METHODS,
        n_folds: int = 5,
        seed: int = 0,
        min_per_class: int = 4,
    ) -> None:
        methods = tuple(methods)
        unknown = [m for m in methods if m not in METHODS]
        if not methods or unknown:
            raise CalibrationError(
                f"VideoCalibrator: methods must be a non-empty subset of {METHODS}, got {methods}"
            )
        if n_folds < 2:
            raise CalibrationError(f"VideoCalibrator: n_folds must be >= 2, got {n_folds}")
        if min_per_class < 2:
            raise CalibrationError(
                f"VideoCalibrator: min_per_class must be >= 2, got {min_per_class}"
            )
        self.methods = methods
        self.n_folds = int(n_folds)
        self.seed = int(seed)
        self.min_per_class = int(min_per_class)
        self.method_: str = "temperature"
        self.params_: dict[str, Any] = {"temperature": 1.0}
        self.cv_nll_: dict[str, float] = {}
        self.n_folds_: int = 0
        self.n_samples_: int = 0

    def __repr__(self) -> str:
        return f"VideoCalibrator(method_={self.method_!r}, params_={self.params_!r})"

    def fit(self, video_logits: npt.ArrayLike, labels: npt.ArrayLike) -> VideoCalibrator:
        """Choose a method by CV NLL on these videos, then refit it on all of them."""
        z, y = _fit_inputs(video_logits, labels, "VideoCalibrator.fit")
        smaller = int(min(y.sum(), y.size - y.sum()))
        self.cv_nll_ = {}
        self.n_folds_ = 0
        if smaller < self.min_per_class:
            method = "temperature"
        elif len(self.methods) == 1:
            method = self.methods[0]
        else:
            self.n_folds_ = min(self.n_folds, smaller)
            self.cv_nll_ = self.cross_validate(z, y, self.n_folds_)
            method = min(self.methods, key=lambda m: (self.cv_nll_[m], self.methods.index(m)))
        self.method_ = method
        self.params_ = _FITTERS[method](z, y)
        self.n_samples_ = int(z.size)
        return self

    def cross_validate(
        self, video_logits: npt.ArrayLike, labels: npt.ArrayLike, n_folds: int
    ) -> dict[str, float]:
        """Pooled held-out NLL of each candidate over seeded stratified ``n_folds`` folds."""
        from sklearn.model_selection import StratifiedKFold

        z, y = _fit_inputs(video_logits, labels, "VideoCalibrator.cross_validate")
        held_out = {m: np.empty_like(z) for m in self.methods}
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.seed)
        for train, test in folds.split(z, y):
            for m in self.methods:
                held_out[m][test] = _predict(m, _FITTERS[m](z[train], y[train]), z[test])
        return {m: _nll(p, y) for m, p in held_out.items()}

    def predict_proba(self, video_logits: npt.ArrayLike) -> FloatArray:
        """Calibrated probability of "fake" for each video logit (same shape; numpy only)."""
        z = np.asarray(video_logits, dtype=np.float64)
        if np.isnan(z).any():
            raise CalibrationError(
                f"VideoCalibrator.predict_proba: {int(np.isnan(z).sum())} NaN logit(s)"
            )
        return _predict(self.method_, self.params_, z)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; :meth:`from_dict` rebuilds a calibrator that predicts identically."""
        return {
            "level": "video",
            "method": self.method_,
            "params": {k: (list(v) if isinstance(v, list) else v) for k, v in self.params_.items()},
            "cv_nll": dict(self.cv_nll_),
            "n_folds": self.n_folds_,
            "n_samples": self.n_samples_,
            "candidates": list(self.methods),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoCalibrator:
        """Rebuild a calibrator saved with :meth:`to_dict` (raises :class:`CalibrationError`)."""
        method = data.get("method")
        if method not in METHODS:
            raise CalibrationError(f"calibration method {method!r} is not one of {METHODS}")
        params = data.get("params")
        if not isinstance(params, Mapping):
            raise CalibrationError(f"calibration {method!r}: 'params' must be a mapping")
        try:
            candidates = tuple(data.get("candidates", METHODS))
            cal = cls(methods=candidates, seed=int(data.get("seed", 0)))
            cal.cv_nll_ = {str(k): float(v) for k, v in dict(data.get("cv_nll", {})).items()}
            cal.n_folds_ = int(data.get("n_folds", 0))
            cal.n_samples_ = int(data.get("n_samples", 0))
        except (TypeError, ValueError) as err:
            raise CalibrationError(f"calibration: invalid saved state ({err})") from err
        cal.method_ = str(method)
        cal.params_ = _check_params(cal.method_, params)
        return cal


# --------------------------------------------------------------------------------------------
# decision threshold


def choose_threshold(probs: npt.ArrayLike, labels: npt.ArrayLike, rule: str = "youden") -> float:
    """Threshold on (calibrated) validation probabilities: a video is fake when ``p >= t``.

    ``rule="youden"`` maximises Youden's J = TPR - FPR; ``rule="balanced_accuracy"`` maximises
    (TPR + TNR) / 2 = (1 + J) / 2, so both give the same threshold. Candidates are the midpoints
    between consecutive distinct probabilities, plus ``min / 2`` and ``(max + 1) / 2`` (everything
    fake / everything real), so the threshold keeps a margin from the validation scores. Exact
    ties in J go to the candidate closest to 0.5 (then the lower one).
    """
    func = "choose_threshold"
    if rule not in THRESHOLD_RULES:
        raise CalibrationError(f"{func}: rule must be one of {THRESHOLD_RULES}, got {rule!r}")
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 1 or y.ndim != 1 or p.size != y.size or p.size == 0:
        raise CalibrationError(
            f"{func}: probs and labels must be 1-D, non-empty and of one length "
            f"(got {p.shape} and {y.shape})"
        )
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise CalibrationError(f"{func}: probabilities must be finite and in [0, 1]")
    if not np.all((y == 0) | (y == 1)):
        raise CalibrationError(f"{func}: labels must be 0 (real) or 1 (fake)")
    n_pos = int(np.sum(y == 1))
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise CalibrationError(f"{func}: labels need both real (0) and fake (1) videos")
    values = np.unique(p)
    candidates = np.concatenate(
        [[values[0] / 2.0], (values[:-1] + values[1:]) / 2.0, [(values[-1] + 1.0) / 2.0]]
    )
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    # counts with p >= t, exact integers; J * n_pos * n_neg = tp * n_neg - fp * n_pos
    tp = n_pos - np.searchsorted(pos, candidates, side="left")
    fp = n_neg - np.searchsorted(neg, candidates, side="left")
    score = tp.astype(np.int64) * n_neg - fp.astype(np.int64) * n_pos
    best = candidates[score == score.max()]
    return float(best[np.lexsort((best, np.abs(best - 0.5)))[0]])
