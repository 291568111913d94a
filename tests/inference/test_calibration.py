"""Tests for fakescope.inference.calibration: temperature scaling of binary logits."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss

from fakescope.evaluation import expected_calibration_error, roc_auc
from fakescope.inference import CalibrationError, TemperatureScaler, logit, sigmoid
from fakescope.inference.video_calibration import (
    METHODS,
    VideoCalibrator,
    _nll,
    choose_threshold,
)


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


# --------------------------------------------------------------------------------------------
# video-level calibration chosen by cross-validation


def videos(seed: int, n: int = 2000, scale: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Video logits of an over-confident detector: ``scale`` x calibrated log-odds."""
    t, y = synthetic(seed, n)
    return scale * t, y


@pytest.mark.parametrize("method", METHODS)
def test_each_method_reduces_held_out_ece_of_an_overconfident_detector(method: str) -> None:
    z, y = videos(10)
    z_test, y_test = videos(11)
    cal = VideoCalibrator(methods=(method,)).fit(z, y)
    assert cal.method_ == method
    before = expected_calibration_error(y_test, sigmoid(z_test))
    after = expected_calibration_error(y_test, cal.predict_proba(z_test))
    assert after < before / 2
    assert log_loss(y_test, cal.predict_proba(z_test)) < log_loss(y_test, sigmoid(z_test))
    # monotone in the logit: the ranking is kept (isotonic may tie neighbours)
    grid = np.linspace(-40, 40, 801)
    assert np.all(np.diff(cal.predict_proba(grid)) >= 0)


def test_temperature_candidate_recovers_the_scale() -> None:
    z, y = videos(12, n=5000)
    cal = VideoCalibrator(methods=("temperature",)).fit(z, y)
    assert cal.params_["temperature"] == pytest.approx(4.0, rel=0.1)


def _distorted(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated in the middle, wildly over-confident in the tails: no linear map of the
    logit fixes it, a beta or isotonic map can."""
    t, y = synthetic(seed, n)
    return t**3, y


def test_cv_picks_the_method_with_the_lowest_held_out_nll() -> None:
    from sklearn.model_selection import StratifiedKFold

    z, y = _distorted(13)
    cal = VideoCalibrator(seed=3).fit(z, y)
    assert cal.n_folds_ == 5 and set(cal.cv_nll_) == set(METHODS)
    # recompute the CV NLL independently: one single-method calibrator per fold
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=3).split(z, y)
    held_out = {m: np.empty(z.size) for m in METHODS}
    for train, test in folds:
        for m in METHODS:
            held_out[m][test] = VideoCalibrator((m,)).fit(z[train], y[train]).predict_proba(z[test])
    nll = {m: _nll(p, y.astype(float)) for m, p in held_out.items()}
    assert nll == pytest.approx(cal.cv_nll_, rel=1e-9)
    assert cal.method_ == min(nll, key=nll.__getitem__)
    assert cal.method_ in ("beta", "isotonic")
    assert min(nll["beta"], nll["isotonic"]) < min(nll["temperature"], nll["platt"]) - 0.01
    # the refit on all videos generalises: calibrated on fresh videos from the same detector
    z_test, y_test = _distorted(14)
    assert expected_calibration_error(y_test, cal.predict_proba(z_test)) < 0.03


def test_fit_is_seeded_and_deterministic() -> None:
    z, y = _distorted(15, n=600)
    a = VideoCalibrator(seed=1).fit(z, y)
    b = VideoCalibrator(seed=1).fit(z, y)
    assert a.to_dict() == b.to_dict()
    assert VideoCalibrator(seed=2).fit(z, y).cv_nll_ != a.cv_nll_


def test_few_videos_of_a_class_fall_back_to_temperature() -> None:
    z, y = videos(16, n=200)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:3]])
    cal = VideoCalibrator().fit(z[keep], y[keep])
    assert cal.method_ == "temperature" and cal.cv_nll_ == {} and cal.n_folds_ == 0
    # with 4 of the smaller class, K = 4 folds are compared
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:4]])
    cal = VideoCalibrator().fit(z[keep], y[keep])
    assert cal.n_folds_ == 4 and set(cal.cv_nll_) == set(METHODS)


def test_separable_videos_give_finite_moderate_probabilities() -> None:
    z = np.array([-5.0, -4.0, -3.5, -3.0, -2.0, 2.0, 3.0, 4.0, 4.5, 6.0])
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    for m in METHODS:
        p = VideoCalibrator((m,)).fit(z, y).predict_proba(z)
        assert np.all((p > 1e-4) & (p < 1 - 1e-4)), m
        assert np.all(p[y == 1] > 0.5) and np.all(p[y == 0] < 0.5), m


@pytest.mark.parametrize("method", METHODS)
def test_video_calibrator_round_trips_through_json(method: str) -> None:
    z, y = _distorted(17, n=500)
    cal = VideoCalibrator((method,)).fit(z, y)
    again = VideoCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.method_ == method and again.params_ == cal.params_
    grid = np.concatenate([np.linspace(-60, 60, 241), z, [-np.inf, np.inf]])
    assert np.array_equal(again.predict_proba(grid), cal.predict_proba(grid))
    assert np.all(np.isfinite(cal.predict_proba(grid)))


def test_round_trip_keeps_the_cv_record() -> None:
    z, y = _distorted(18, n=400)
    cal = VideoCalibrator(seed=5).fit(z, y)
    state = json.loads(json.dumps(cal.to_dict()))
    again = VideoCalibrator.from_dict(state)
    assert again.to_dict() == cal.to_dict()
    assert state["params"] == cal.params_ and state["cv_nll"] == cal.cv_nll_


def test_predict_does_not_import_sklearn() -> None:
    import subprocess
    import sys

    z, y = _distorted(19, n=300)
    state = json.dumps(VideoCalibrator(("isotonic",)).fit(z, y).to_dict())
    code = (
        "import json, sys\n"
        "from fakescope.inference.video_calibration import VideoCalibrator\n"
        f"cal = VideoCalibrator.from_dict(json.loads({state!r}))\n"
        "cal.predict_proba([0.0, 1.0])\n"
        "assert 'sklearn' not in sys.modules, 'sklearn imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "data",
    [
        {"method": "histogram", "params": {}},
        {"method": "temperature", "params": {"temperature": 0.0}},
        {"method": "temperature", "params": {}},
        {"method": "platt", "params": {"slope": -1.0, "intercept": 0.0}},
        {"method": "beta", "params": {"a": 1.0, "b": float("nan"), "c": 0.0}},
        {"method": "isotonic", "params": {"x": [0.0, 1.0], "y": [0.5]}},
        {"method": "isotonic", "params": {"x": [1.0, 0.0], "y": [0.2, 0.5]}},
        {"method": "isotonic", "params": {"x": [0.0, 1.0], "y": [0.5, 0.2]}},
        {"method": "platt"},
    ],
)
def test_video_calibrator_from_dict_rejects_bad_state(data: dict[str, Any]) -> None:
    with pytest.raises(CalibrationError):
        VideoCalibrator.from_dict(data)


@pytest.mark.parametrize(
    ("logits", "labels", "pattern"),
    [
        ([0.1, 0.2, 0.3], [1, 1, 1], "all 3 labels are fake"),
        ([0.1, 0.2], [0, 1, 1], "differ in length"),
        ([], [], "no videos"),
        ([0.1, np.nan], [0, 1], "finite"),
        ([0.1, 0.2], [0, 2], "labels must be 0"),
    ],
)
def test_video_calibrator_rejects_bad_input(
    logits: list[Any], labels: list[int], pattern: str
) -> None:
    with pytest.raises(CalibrationError, match=pattern):
        VideoCalibrator().fit(logits, labels)
    with pytest.raises(CalibrationError, match="subset"):
        VideoCalibrator(methods=("histogram",))


def test_threshold_on_separable_videos_lies_between_the_classes() -> None:
    rng = np.random.default_rng(20)
    real = rng.uniform(0.05, 0.3, 50)
    fake = rng.uniform(0.7, 0.99, 60)
    p = np.concatenate([real, fake])
    y = np.r_[np.zeros(50), np.ones(60)].astype(int)
    t = choose_threshold(p, y)
    assert real.max() < t < fake.min()
    assert t == (real.max() + fake.min()) / 2  # the midpoint: a margin on both sides
    assert choose_threshold(p, y, rule="balanced_accuracy") == t


def test_threshold_maximises_youden_j() -> None:
    z, y = videos(21, n=1000, scale=1.0)
    p = sigmoid(z + 1.0)  # shifted: the best threshold is not 0.5
    t = choose_threshold(p, y)

    def youden(th: float) -> float:
        pred = p >= th
        return float(pred[y == 1].mean() - pred[y == 0].mean())

    best = youden(t)
    assert all(youden(th) <= best + 1e-12 for th in np.unique(p))
    assert youden(0.5) < best


def test_threshold_ties_go_to_the_one_closest_to_half() -> None:
    # J = 1/2 for t in (0.1, 0.3] and in (0.8, 0.9]: two optimal gaps; the one nearer 0.5 wins
    p = np.array([0.1, 0.3, 0.8, 0.9])
    y = np.array([0, 1, 0, 1])
    assert choose_threshold(p, y) == pytest.approx(0.2)
    assert choose_threshold(1 - p, 1 - y) == pytest.approx(0.8)
    # a useless detector: every candidate has J = 0 -> the candidate closest to 0.5
    assert choose_threshold(np.full(4, 0.3), np.array([0, 1, 0, 1])) == pytest.approx(0.65)
    with pytest.raises(CalibrationError, match="rule"):
        choose_threshold(p, y, rule="f1")
    with pytest.raises(CalibrationError, match="both"):
        choose_threshold(p, np.zeros(4, int))
