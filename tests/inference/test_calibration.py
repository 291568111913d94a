"""Tests for fakescope.inference.calibration: temperature scaling of binary logits."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss

from fakescope.evaluation import expected_calibration_error, roc_auc
from fakescope.inference import CalibrationError, TemperatureScaler, logit, sigmoid


def synthetic(seed: int = 0, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """True log-odds ~ N(0, 2^2) and labels drawn from them (calibrated by construction)."""
    rng = np.random.default_rng(seed)
    t = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-t))).astype(int)
    return t, y


def test_default_is_identity() -> None:
    scaler = TemperatureScaler()
    assert scaler.temperature_ == 1.0
    z = np.array([-3.0, 0.0, 2.0])
    assert scaler.predict_proba(z) == pytest.approx(1.0 / (1.0 + np.exp(-z)))


def test_overconfident_logits_fit_temperature_three() -> None:
    t, y = synthetic()
    z = 3.0 * t
    scaler = TemperatureScaler().fit(z, y)
    assert scaler.temperature_ == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(y, sigmoid(z))
    after = expected_calibration_error(y, scaler.predict_proba(z))
    assert after < before / 3
    assert log_loss(y, scaler.predict_proba(z)) < log_loss(y, sigmoid(z))


def test_underconfident_logits_fit_temperature_below_one() -> None:
    t, y = synthetic(1)
    scaler = TemperatureScaler().fit(0.5 * t, y)
    assert scaler.temperature_ == pytest.approx(0.5, rel=0.1)


def test_calibrated_logits_keep_temperature_one() -> None:
    t, y = synthetic(2)
    assert TemperatureScaler().fit(t, y).temperature_ == pytest.approx(1.0, rel=0.1)


def test_fit_reaches_the_likelihood_minimum() -> None:
    t, y = synthetic(3, n=5000)
    z = 2.0 * t
    scaler = TemperatureScaler().fit(z, y)
    best = log_loss(y, scaler.predict_proba(z))
    for factor in (0.98, 1.02):
        assert best < log_loss(y, sigmoid(z / (scaler.temperature_ * factor)))
    # first-order condition of the NLL in a = 1/T: mean((sigmoid(a z) - y) z) = 0
    gradient = np.mean((scaler.predict_proba(z) - y) * z)
    assert abs(gradient) < 1e-5


def test_fit_is_deterministic_and_returns_self() -> None:
    t, y = synthetic(4, n=3000)
    a = TemperatureScaler()
    assert a.fit(3 * t, y) is a
    assert TemperatureScaler().fit(3 * t, y).temperature_ == a.temperature_
    assert a.n_samples_ == 3000


def test_predict_proba_is_monotone_and_keeps_auc() -> None:
    t, y = synthetic(5, n=3000)
    z = 3.0 * t
    scaler = TemperatureScaler().fit(z, y)
    grid = np.linspace(-30, 30, 601)
    p = scaler.predict_proba(grid)
    assert np.all(np.diff(p) > 0)
    assert roc_auc(y, scaler.predict_proba(z)) == pytest.approx(roc_auc(y, z), abs=1e-12)


def test_round_trip_through_dict_and_json() -> None:
    t, y = synthetic(6, n=2000)
    scaler = TemperatureScaler().fit(2 * t, y)
    data = json.loads(json.dumps(scaler.to_dict()))
    again = TemperatureScaler.from_dict(data)
    assert again.temperature_ == scaler.temperature_
    assert again.n_samples_ == scaler.n_samples_
    z = np.array([-4.0, 0.3, 5.0])
    assert again.predict_proba(z) == pytest.approx(scaler.predict_proba(z))


@pytest.mark.parametrize(
    "data",
    [
        {"method": "temperature", "temperature": 0.0},
        {"method": "temperature", "temperature": -2.0},
        {"method": "temperature", "temperature": float("nan")},
        {"method": "temperature"},
        {"method": "isotonic", "temperature": 1.0},
    ],
)
def test_from_dict_rejects_bad_state(data: dict[str, object]) -> None:
    with pytest.raises(CalibrationError):
        TemperatureScaler.from_dict(data)


@pytest.mark.parametrize(
    ("logits", "labels", "pattern"),
    [
        ([0.1, 0.2, 0.3], [1, 1, 1], "all 3 labels are fake"),
        ([0.1, 0.2], [0, 1, 1], "differ in length"),
        ([], [], "no samples"),
        ([0.1, np.nan], [0, 1], "NaN"),
        ([0.1, np.inf], [0, 1], "finite"),
        ([0.1, 0.2], [0, 2], "labels must be 0"),
        ([[0.1, 0.2], [0.3, 0.4]], [0, 1], "1-D"),
    ],
)
def test_fit_rejects_bad_input(logits: list[Any], labels: list[int], pattern: str) -> None:
    with pytest.raises(CalibrationError, match=pattern):
        TemperatureScaler().fit(logits, labels)


def test_fit_accepts_column_of_logits() -> None:
    t, y = synthetic(7, n=2000)
    flat = TemperatureScaler().fit(t, y).temperature_
    assert TemperatureScaler().fit(t[:, None], y).temperature_ == flat


def test_logit_and_sigmoid_helpers() -> None:
    x = np.array([-800.0, -5.0, 0.0, 5.0, 800.0])
    with np.errstate(all="raise"):
        p = sigmoid(x)
    assert p[2] == 0.5 and p[0] == 0.0 and p[-1] == 1.0
    assert logit(sigmoid(x[1:4])) == pytest.approx(x[1:4])
    clipped = logit(np.array([0.0, 1.0]))
    assert np.all(np.isfinite(clipped))
    assert clipped[1] == pytest.approx(-clipped[0]) and clipped[1] > 15
    assert logit(np.array([0.0]), eps=1e-3)[0] == pytest.approx(np.log(1e-3 / (1 - 1e-3)))
